"""The PyTorch target: what is different in PyTorch, one emitter per layer type.

Read this package as the answer to "what changes when a Keras model is written
in PyTorch":

- Tensors are channels first (`layout.py`): an image is (N, C, H, W). Sequences
  are kept as (N, T, C) and turned to (N, C, T) only around the layers that read
  them as a signal.
- Every size is explicit: a module is built with its input size, which archdsl
  knows from shape inference and Keras infers at build time.
- Keras' defaults are written out where PyTorch's differ (`normalization.py`,
  `activation.py`), and TensorFlow's uneven 'same' padding is applied by hand
  (`padding.py`).
- An RNN returns every step; Keras' default of the last step is picked by hand
  (`recurrent.py`).
- Layers without weights are function calls in forward, as PyTorch code usually
  has them; only layers with weights or a train/eval mode are modules.

Each family module registers its emitters, and beside each the weight rule that
verify uses to move Keras' weights over (`registry.py`); `module.py` assembles
the nn.Module and `templates/torch/model.py.j2` lays it out.
"""

from archdsl.targets.torch import (  # noqa: F401  (each registers its layer types)
    activation,
    attention,
    convolution,
    core,
    merge,
    normalization,
    pooling,
    recurrent,
    transformer,
)
from archdsl.targets.torch.module import NAME, emit_model, in_place_activations, input_layout, outline
from archdsl.targets.torch.registry import TRANSLATIONS, WeightContext

__all__ = [
    "NAME",
    "TRANSLATIONS",
    "WeightContext",
    "emit_model",
    "in_place_activations",
    "input_layout",
    "outline",
]
