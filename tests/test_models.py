import pytest
import torch

from skipnet.training.models import MyNet, Net3, model_summary


def test_mynet16_matches_the_study_counts():
    s = model_summary(MyNet(depth=16, num_classes=10, image_size=32), 32)
    assert s["parameter_tensors"] == 514
    assert s["parameters"] == 31_006_850


def test_net3_matches_the_previous_homework():
    assert model_summary(Net3(num_classes=5, image_size=64), 64)["parameters"] == 622_245


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("skip", [True, False])
def test_mynet_output_shape(size, skip):
    out = MyNet(depth=1, skip_connections=skip, num_classes=5, image_size=size)(torch.randn(3, 3, size, size))
    assert out.shape == (3, 5)


@pytest.mark.parametrize("size", [32, 64])
def test_net3_output_shape(size):
    assert Net3(num_classes=7, image_size=size)(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_downsampling_block_concatenates_identity_and_in2out_always_exists():
    net = MyNet(depth=1)
    ds = net.skip64to128ds
    assert ds.in2out.in_channels == 64 and ds.in2out.out_channels == 128
    assert ds.downsampler1.stride == (2, 2) and ds.downsampler1.kernel_size == (1, 1)
    # unused in a 64->64 block, but there (a 1x1 conv, 64*64 + 64 parameters): the study's counts include it
    unused = net.skip64_arr[0].in2out
    assert (unused.in_channels, unused.out_channels, unused.kernel_size) == (64, 64, (1, 1))
    assert sum(p.numel() for p in unused.parameters()) == 64 * 64 + 64
    x = torch.randn(2, 64, 16, 16)
    ds.eval()
    with torch.no_grad():
        ident = ds.downsampler1(x)
        no_skip = ds.downsampler2(torch.relu(ds.bn2(ds.conv2(torch.relu(ds.bn1(ds.conv1(x)))))))
        assert torch.allclose(ds(x), no_skip + torch.cat((ident, ident), dim=1))


def test_skip_connections_false_drops_the_identity():
    block = MyNet(depth=1, skip_connections=False).skip64_arr[0].eval()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))))


def test_summary_counts_macs():
    # Net3 at 64x64: conv1 64*64*16*27 + conv2 32*32*32*144 + 10 * 16*16*32*288 + fc 8192*64 + 64*5
    expected = 64 * 64 * 16 * 27 + 32 * 32 * 32 * 144 + 10 * 16 * 16 * 32 * 288 + 8192 * 64 + 64 * 5
    assert model_summary(Net3(num_classes=5, image_size=64), 64)["macs_per_image"] == expected
