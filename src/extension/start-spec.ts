/** What a monitor session watches: a built-in example, a script, a log to tail, a WebSocket to connect to or to listen on. */
export type StartSpec =
  | { kind: 'example'; example: 'nqm' | 'mnist-mlp'; args?: string[] }
  /** The PyTorch MNIST MLP (src/python/fdr_monitor/examples/mnist_mlp.py), run by `python` (default python3). */
  | { kind: 'example'; example: 'torch-mnist-mlp'; python?: string; args?: string[] }
  | { kind: 'script'; command: string; args: string[]; cwd?: string; title?: string }
  | { kind: 'tail'; path: string; from?: 'start' | 'end' }
  | { kind: 'connect'; url: string; token?: string }
  | { kind: 'listen'; host: string; port: number; token?: string };
