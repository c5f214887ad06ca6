"""The Keras side of tests/keras.rs: the Keras setting of the question lossbench answers,
in real Keras 3 on the PyTorch backend. Builds lossbench's U-Net from Keras layers with
Keras' own defaults (BatchNormalization(momentum=0.99, epsilon=1e-3), Adam(epsilon=1e-7), the
`categorical_crossentropy` and `binary_crossentropy` losses with from_logits=False after a
softmax or sigmoid output, as the Keras model of that question does), loads lossbench's
initial weights into it, trains it with `model.train_on_batch` on lossbench's batches, and evaluates it on the
validation split with `model.evaluate` and Keras' own `binary_accuracy` metric, which it
also applies to lossbench's validation outputs.

Prints one JSON object: the loss of every step, the validation loss and binary_accuracy
after the last step, and Keras' binary_accuracy of lossbench's outputs.

    KERAS_BACKEND=torch python peer/keras_parity.py --input batches.safetensors \
        --weights weights.safetensors --loss bce --classes 7 --base 8 --depth 3

Needs `pip install keras==3.15.1` in the PyTorch venv (`.ci/run` installs it).
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402
from keras import layers  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tensors  # noqa: E402

# lossbench's loss → the Keras output activation and loss of that Keras model.
LOSSES = {
    "cce": ("softmax", keras.losses.CategoricalCrossentropy),
    "bce": ("sigmoid", keras.losses.BinaryCrossentropy),
    # Sigmoid outputs under categorical_crossentropy, which divides them by their sum.
    "depth_softmax_cce": ("sigmoid", keras.losses.CategoricalCrossentropy),
}


def unet(in_channels, classes, base, depth, activation):
    """lossbench's U-Net (src/model/unet.rs) in Keras layers, channels-last, each layer
    named as lossbench's variables are (dots as underscores)."""
    inputs = keras.Input((None, None, in_channels))

    def double(x, channels, name):
        for i in (1, 2):
            x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
            x = layers.ReLU()(x)
        return x

    x, skips = inputs, []
    for stage in range(depth):
        x = double(x, base << stage, f"enc{stage}")
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = double(x, base << depth, "bottleneck")
    for stage in reversed(range(depth)):
        up = layers.Conv2DTranspose(base << stage, 2, strides=2, name=f"up{stage}")(x)
        x = layers.Concatenate()([skips[stage], up])
        x = double(x, base << stage, f"dec{stage}")
    x = layers.Conv2D(classes, 1, name="head")(x)
    return keras.Model(inputs, layers.Activation(activation)(x))


def load(model, weights):
    """lossbench's variables into the Keras layers: convolution kernels [out, in, kh, kw]
    and transposed-convolution kernels [in, out, kh, kw] as Keras' [kh, kw, in, out] and
    [kh, kw, out, in]; batch norm's weight, bias, running mean and variance as gamma, beta
    and the moving statistics. Returns the lossbench names left unused."""
    unused = set(weights)

    def take(name):
        unused.discard(name)
        return weights[name]

    for layer in model.layers:
        name = layer.name.replace("_", ".")
        if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            values = [take(f"{name}.weight").permute(2, 3, 1, 0)]
            if layer.use_bias:
                values.append(take(f"{name}.bias"))
            layer.set_weights([v.numpy() for v in values])
        elif isinstance(layer, layers.BatchNormalization):
            values = [take(f"{name}.{k}") for k in ("weight", "bias", "running_mean", "running_var")]
            layer.set_weights([v.numpy() for v in values])
    return sorted(unused)


def channels_last(images, masks, classes):
    """NCHW images and [N, H, W] class masks as Keras' NHWC images and one-hot masks."""
    x = images.permute(0, 2, 3, 1).contiguous().numpy()
    y = torch.nn.functional.one_hot(masks, classes).to(torch.float32).numpy()
    return x, y


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="lossbench's batches (tests/keras.rs)")
    p.add_argument("--weights", required=True, help="lossbench's initial variables")
    p.add_argument("--loss", choices=sorted(LOSSES), required=True)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=7)
    p.add_argument("--base", type=int, default=8)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    activation, loss = LOSSES[args.loss]
    model = unet(args.in_channels, args.classes, args.base, args.depth, activation)
    unused = load(model, tensors.read(args.weights))
    if unused:
        raise SystemExit(f"lossbench variables the Keras model has no place for: {unused}")
    # Keras' defaults throughout: Adam(epsilon=1e-7), the loss with from_logits=False.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.lr),
        loss=loss(),
        metrics=[keras.metrics.BinaryAccuracy()],
        jit_compile=False,
    )
    data = tensors.read(args.input)
    x, y = channels_last(data["images"], data["masks"], args.classes)
    order = data["order"].tolist()
    steps, start = [], 0
    for length in data["lengths"].tolist():
        batch = order[start : start + length]
        start += length
        model.reset_metrics()
        logs = model.train_on_batch(x[batch], y[batch], return_dict=True)
        steps.append(float(logs["loss"]))
    vx, vy = channels_last(data["val_images"], data["val_masks"], args.classes)
    val = model.evaluate(vx, vy, batch_size=len(vx), verbose=0, return_dict=True)
    # Keras' metric of lossbench's own validation outputs (its logits after the last step,
    # through this model's output activation).
    ours = data["val_logits"].permute(0, 2, 3, 1)
    metric = keras.metrics.BinaryAccuracy()
    metric.update_state(vy, keras.activations.get(activation)(ours))
    json.dump(
        {
            "keras": keras.__version__,
            "steps": steps,
            "val_loss": float(val["loss"]),
            "val_binary_accuracy": float(val["binary_accuracy"]),
            "binary_accuracy_of_lossbench": float(metric.result()),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
