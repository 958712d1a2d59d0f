"""`mobilenet classify`: top classes per image, labels from the model, --labels or indices; clean errors."""
import json

import numpy as np
import pytest

import mobilenet
from mobilenet.cli import main

from model_files import FLOAT_TFLITE, shared_models

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def small_model(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=6, threads=1, seed=3)
    net.save(tmp_path / "small.npz")
    image = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    return net, tmp_path


def _expected_top(net, image_path, k):
    probs = net(mobilenet.preprocess(image_path, net))[0]
    return list(np.argsort(-probs, kind="stable")[:k]), probs


def test_indices_without_labels(small_model, capsys):
    net, folder = small_model
    assert main(["classify", str(folder / "photo.png"), "--weights", str(folder / "small.npz"), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    order, probs = _expected_top(net, folder / "photo.png", 3)
    assert lines[0] == str(folder / "photo.png") and len(lines) == 4
    for line, index in zip(lines[1:], order):
        score, printed = line.split()
        assert int(printed) == index and float(score) == pytest.approx(probs[index], abs=1e-4)


def test_labels_file_and_json(small_model, capsys):
    net, folder = small_model
    (folder / "labels.txt").write_text("".join(f"thing {i}\n" for i in range(6)))
    (folder / "copy.png").write_bytes((folder / "photo.png").read_bytes())
    # A file named twice is one input: one result each for photo.png and copy.png.
    args = ["classify", str(folder / "photo.png"), str(folder / "copy.png"), str(folder / "photo.png"),
            "--weights", str(folder / "small.npz"), "--labels", str(folder / "labels.txt"), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    order, _ = _expected_top(net, folder / "photo.png", 5)
    assert [entry["image"] for entry in result] == [str(folder / "photo.png"), str(folder / "copy.png")]
    assert [entry["index"] for entry in result[0]["top"]] == order
    assert result[0]["top"][0]["label"] == f"thing {order[0]}"


def test_labels_in_the_model_file_win(small_model, capsys):
    net, folder = small_model
    net.labels = [f"saved {i}" for i in range(6)]
    net.save(folder / "labelled.npz")
    (folder / "labels.txt").write_text("".join(f"other {i}\n" for i in range(6)))
    assert main(["classify", str(folder / "photo.png"), "--weights", str(folder / "labelled.npz"),
                 "--labels", str(folder / "labels.txt"), "--top", "1"]) == 0
    assert "saved" in capsys.readouterr().out


@pytest.mark.parametrize("argv_tail, message", [
    (["--weights", "{folder}/missing.tflite"], "model file not found"),
    (["--weights", "{folder}/photo.png"], "unrecognized model format"),
    (["--weights", "{folder}/small.npz", "--labels", "{folder}/nolabels.txt"], "labels file not found"),
])
def test_unreadable_files_exit_1_with_one_line(small_model, capsys, argv_tail, message):
    _, folder = small_model
    argv = ["classify", str(folder / "photo.png")] + [a.format(folder=folder) for a in argv_tail]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_unreadable_image_exit_1(small_model, capsys):
    _, folder = small_model
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert main(["classify", str(folder / "broken.jpg"), "--weights", str(folder / "small.npz")]) == 1
    assert "broken.jpg" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["classify", "x.jpg", "--top", "0"], ["classify", "x.jpg", "--weights", "m",
                                                                        "--top", "0"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_real_model_puts_a_cat_first_on_chelsea(tmp_path, capsys):
    models = shared_models()
    pytest.importorskip("tflite")
    skimage_data = pytest.importorskip("skimage.data")
    Image.fromarray(skimage_data.chelsea()).save(tmp_path / "chelsea.jpg", quality=90)
    assert main(["classify", str(tmp_path / "chelsea.jpg"), "--weights", str(models / FLOAT_TFLITE),
                 "--labels", str(models / "imagenet_labels.txt"), "--json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert top[0]["label"] in ("Egyptian cat", "tabby, tabby cat", "tiger cat")
