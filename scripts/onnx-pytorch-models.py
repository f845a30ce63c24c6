#!/usr/bin/python3
"""Exports small PyTorch models to ONNX with their inputs and PyTorch's outputs, for
test/onnx/pytorch.test.ts. Run with Debian's python3-torch 1.13 and python3-onnx:

    apt-get install -y python3-torch python3-onnx
    /usr/bin/python3 scripts/onnx-pytorch-models.py

Writes test/fixtures/onnx/pytorch/<name>/{model.onnx, input_<i>.pb, output_<i>.pb} (TensorProtos,
in the order of the graph's inputs and outputs, like ONNX's node tests). Seeded: the same files
on every run of the same PyTorch build."""
import os
import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'onnx', 'pytorch')
OPSET = 17


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=1)
        self.fc = nn.Linear(8 * 2 * 2, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv1(x)))
        h = nn.functional.max_pool2d(h, 2)
        h = nn.functional.avg_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc(torch.flatten(h, 1))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(14, 2)

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        return self.head(y), h, c


class Gru(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(5, 6, batch_first=True)

    def forward(self, x):
        y, h = self.rnn(x)
        return y, h


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def export(name, model, inputs):
    torch.manual_seed(0)
    model.eval()
    if name == 'cnn':
        # non-trivial running statistics, so batchNorm's inference formula is exercised
        with torch.no_grad():
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 1.5)
            model.bn.weight.uniform_(0.5, 1.5)
            model.bn.bias.uniform_(-0.5, 0.5)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        outs = model(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    in_names = ['input'] if len(inputs) == 1 else [f'input_{i}' for i in range(len(inputs))]
    out_names = ['output'] if len(outs) == 1 else [f'output_{i}' for i in range(len(outs))]
    path = os.path.join(d, 'model.onnx')
    torch.onnx.export(model, tuple(inputs), path, opset_version=OPSET, input_names=in_names, output_names=out_names, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for i, t in enumerate(inputs):
        open(os.path.join(d, f'input_{i}.pb'), 'wb').write(numpy_helper.from_array(t.numpy(), in_names[i]).SerializeToString())
    for i, t in enumerate(outs):
        open(os.path.join(d, f'output_{i}.pb'), 'wb').write(numpy_helper.from_array(t.numpy(), out_names[i]).SerializeToString())
    print(name, os.path.getsize(path), 'bytes')


def main():
    for name, make, shape in [
        ('mlp', Mlp, (4, 6)),
        ('cnn', Cnn, (2, 3, 12, 12)),
        ('lstm', Lstm, (2, 6, 5)),
        ('gru', Gru, (3, 4, 5)),
        ('transformer', Transformer, (2, 5, 8)),
    ]:
        torch.manual_seed(0)
        model = make()
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        export(name, model, [x])


if __name__ == '__main__':
    main()
