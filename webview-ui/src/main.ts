/**
 * The FDR panel (webview), entry point. Charts share one step axis; a status
 * card and a suggestion card sit above them. Data arrives as append-only
 * `update` messages (src/shared/messages.ts) into typed-array stores
 * (store.ts).
 *
 * Where things are:
 *   app.ts            puts the panel together (the one owner of its state)
 *   host.ts           messages to and from the extension host, resync, `rendered` acks
 *   persistence.ts    setState/getState
 *   render-loop.ts    when a frame is drawn
 *   cards/            "No run yet", status card, suggestion card
 *   toolbar.ts        log loss, x axis (step / time / relative, log x), smoothing, follow, export
 *   metric-picker.ts  the user's own metrics: list, tick to chart, shared axis
 *   metric-plan.ts    which metric charts are drawn and their points (pure)
 *   charts/           chart.js step charts, metric charts, symmetric-log loss, plateau chart, export image
 *   step-axis.ts      the shared step range
 *   x-axis.ts         step → drawn x (step, wall-clock, relative time)
 *   theme.ts, format.ts, dom.ts, metrics.ts, test-hooks.ts
 */
import { createPanel } from './app';
import { Charts } from './charts';

createPanel({
  window,
  vscode: acquireVsCodeApi(),
  charts: (ctx, box, setView) => new Charts(ctx, box, setView),
});
