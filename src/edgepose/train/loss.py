"""The OpenPose training loss: Euclidean (half squared L2) per sample, averaged over the batch."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="edgepose")
class EuclideanLoss(keras.losses.Loss):
    """``sum((y_pred - y_true)^2) / batch / 2``, the loss of the OpenPose/tf-pose training models.

    y_true, y_pred: float32 [N, h, w, C] maps. The sum runs over h, w and C of each sample (giving
    ``[N]``); Keras's ``sum_over_batch_size`` reduction then divides by N (and, under
    ``tf.distribute``, by the replica count so that the summed gradients match one device).
    Masking happens before the loss: the training model multiplies its outputs by the masks and
    the data pipeline multiplies the targets, so a masked cell has zero loss and zero gradient.
    """

    def __init__(self, name: str = "euclidean", reduction: str = "sum_over_batch_size", dtype=None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        d = ops.convert_to_tensor(y_pred) - ops.cast(y_true, y_pred.dtype)
        return 0.5 * ops.sum(ops.square(d), axis=tuple(range(1, len(d.shape))))
