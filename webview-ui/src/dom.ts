/** Building DOM nodes: one small helper instead of a framework. */

/** Creates an element with attributes (`class` sets className) and children. */
export type El = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string>,
  ...children: (Node | string)[]
) => HTMLElementTagNameMap[K];

/** The `el` helper for one document (the webview's, or a test's). */
export function elementFactory(doc: Document): El {
  return (tag, attrs = {}, ...children) => {
    const e = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };
}
