/** The charts as one PNG (Export run asks for it): the canvases stacked on the theme's background. */
export function composeImage(doc: Document, canvases: HTMLCanvasElement[], bg: string): string {
  const w = Math.max(1, ...canvases.map((c) => c.width));
  const h = canvases.reduce((a, c) => a + c.height, 0) || 1;
  const out = doc.createElement('canvas');
  out.width = w;
  out.height = h;
  const g = out.getContext('2d')!;
  g.fillStyle = bg;
  g.fillRect(0, 0, w, h);
  let y = 0;
  for (const c of canvases) {
    g.drawImage(c, 0, y);
    y += c.height;
  }
  return out.toDataURL('image/png');
}
