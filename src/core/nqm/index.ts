/** The NQM (docs/math.md §7): model, simulator, exact moments. The judge of decisions is test/support/nqm-judge.ts. */
export * from './model';
export * from './simulator';
export * from './moments';
