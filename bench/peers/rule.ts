/**
 * A reference learning-rate-drop rule, fed the metrics stream record by record.
 *
 * `push` returns true when the rule would drop η right after this step record,
 * i.e. the drop takes effect from the next step (record.step + 1). After a
 * positive answer the rule starts over, as the original optimizers do; it also
 * starts over by itself when the records show a different learning rate (a
 * drop made by someone else).
 */
import type { StreamRecord } from '../../src/core/protocol';

export interface DropRule {
  readonly name: string;
  push(record: StreamRecord): boolean;
}
