"""fdr_monitor: stream a PyTorch optimizer's FDR observables to the FDR monitor
(stream v1, docs/protocol.md) and take its learning-rate requests back.

    from fdr_monitor import Monitor
    mon = Monitor(opt, out="stdout", meta={"run": "my-run"})
    ...; loss.backward(); mon.step(loss=loss)        # instead of opt.step()
    mon.close()

docs/python/README.md has the API, the optimizers, FDR2, control and DDP.
"""

from .control import DEFAULT_MAX_LR_RATIO, parse_control_line, set_lr_refusal
from .monitor import Monitor
from .stream import PROTOCOL_VERSION, encode_number, format_line
from .websocket import WebSocketClient, WebSocketError

__all__ = ["Monitor", "encode_number", "format_line", "parse_control_line", "set_lr_refusal",
           "DEFAULT_MAX_LR_RATIO", "PROTOCOL_VERSION", "WebSocketClient", "WebSocketError"]
__version__ = "0.1.0"
