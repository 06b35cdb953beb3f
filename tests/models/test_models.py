import pytest
import torch

from segmenty.cli import main
from segmenty.errors import UsageError
from segmenty.models import DEFAULT_MODEL, MODELS, build_model, count_mflops, count_parameters


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("hw", [(256, 256), (256, 512)])
def test_output_shape_is_logits_per_mask(name, hw):
    model = build_model(name, 3).eval()
    assert hw[0] % model.stride == 0 and hw[1] % model.stride == 0
    with torch.no_grad():
        y = model(torch.rand(1, 3, *hw))
    assert y.shape == (1, 3, *hw) and y.dtype == torch.float32


def test_default_preset_runs_at_64():
    model = build_model(DEFAULT_MODEL, 2).eval()
    assert 64 % model.stride == 0
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 2, 64, 64)


def test_hourglass_seed_parameter_count_matches_its_definition():
    # The definition (issue 4), counted by hand: 8 down stages [40, 40, 80, 100, 100, 100, 80, 80],
    # each BN (2 params per input channel), conv 5x5 and conv 3x3 (with biases); dense 100, 100 as
    # 1x1 convs; 8 up stages, each a 3x3 transposed conv to 100, concatenation with the down
    # features of the same scale (the input image at full scale), conv 5x5 and conv 3x3 to 100;
    # head 1x1 convs 30, 30 and one output channel per mask.
    masks = 4
    down = [40, 40, 80, 100, 100, 100, 80, 80]
    chans = [3] + down                        # channels at scales 1, 1/2, ..., 1/256
    n = 0
    for cin, cout in zip(chans[:-1], chans[1:]):
        n += 2 * cin + (25 * cin * cout + cout) + (9 * cout * cout + cout)
    n += (80 * 100 + 100) + (100 * 100 + 100)
    cin = 100
    for skip in reversed(chans[:-1]):         # 1/128 (80 channels) ... 1 (the image, 3 channels)
        n += 9 * cin * 100 + 100
        n += 25 * (100 + skip) * 100 + 100 + 9 * 100 * 100 + 100
        cin = 100
    n += (100 * 30 + 30) + (30 * 30 + 30) + (30 * masks + masks)
    assert count_parameters(build_model("hourglass-seed", masks)) == n
    assert build_model("hourglass-seed", masks).stride == 256


def test_unknown_model_suggests_closest():
    with pytest.raises(UsageError, match="did you mean 'unet-s'"):
        build_model("unet_s", 1)


def test_mflops_grow_with_area():
    model = build_model(DEFAULT_MODEL, 1)
    assert count_mflops(model, 128) * 4 == pytest.approx(count_mflops(model, 256), rel=0.01)


def test_models_command_lists_every_preset(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in MODELS:
        assert name in out
    assert "MFLOPs" in out and "(default)" in out
