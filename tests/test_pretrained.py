"""The bundled model and photo: mobilenet.pretrained(), mobilenet.sample_image(), `mobilenet classify --sample`,
the package data in the installed distribution, and the NOTICE that attributes them."""
import hashlib
import importlib.metadata
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import mobilenet
from mobilenet import bundled
from mobilenet.cli import main
from mobilenet.preprocess import TENSORFLOW

from model_files import FLOAT_TFLITE, REPO, max_rel_error, shared_models

# The published file's hash (google/mediapipe pins the same one for its mirror): the bundled copy is unmodified.
MODEL_SHA256 = "446ec673881cd46371a8726075b714194ada39d144762260cb76d15318597df7"
EGYPTIAN_CAT = 286


@pytest.fixture(scope="module")
def net():
    return mobilenet.pretrained(threads=1)


def top1(net, image):
    probs = net(mobilenet.preprocess(image, net))[0]
    return int(np.argmax(probs)), probs


def test_pretrained_is_tensorflows_float_025_224(net):
    assert (net.alpha, net.resolution, net.num_classes, net.input_shape) == (0.25, 224, 1001, (224, 224, 3))
    assert net.format == "tflite" and net.labels[0] == "background" and len(net.labels) == 1001
    assert net.labels[EGYPTIAN_CAT] == "Egyptian cat"
    assert net.preprocessing == TENSORFLOW


def test_pretrained_classifies_the_sample_as_an_egyptian_cat(net):
    index, probs = top1(net, mobilenet.sample_image())
    assert net.labels[index] == "Egyptian cat"
    # LiteRT gives 0.676 on the lossless photo; the JPEG moves it a little, not to another class's level.
    assert probs[index] > 0.5 and probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_pretrained_takes_loads_options(net):
    x = mobilenet.preprocess(mobilenet.sample_image(), net)
    two = mobilenet.pretrained(threads=2, backend="blas")
    assert two.threads == 2 and two.backend == "blas"
    np.testing.assert_allclose(two(x), net(x), rtol=0, atol=1e-5)
    with pytest.raises(ValueError):
        mobilenet.pretrained(backend="nonsense")
    with pytest.raises(TypeError):
        mobilenet.pretrained(1)  # keyword-only, like load's options


def test_bundled_model_is_the_published_file_unmodified():
    assert hashlib.sha256(pathlib.Path(bundled.model_path()).read_bytes()).hexdigest() == MODEL_SHA256


def test_pretrained_matches_litert_on_the_shared_reference_input(net):
    models = shared_models()
    x = np.load(models / "test_inputs.npz")["chelsea_224"][None].astype(np.float32) / 127.5 - 1.0
    expected = np.load(models / "expected_outputs.npz")[f"{FLOAT_TFLITE}|chelsea"]
    assert max_rel_error(net(x), expected.reshape(1, -1)) < 1e-4
    assert (models / "imagenet_labels.txt").read_bytes() == pathlib.Path(bundled.labels_path()).read_bytes()


def test_cli_sample_prints_egyptian_cat_first(capsys):
    assert main(["classify", "--sample", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == mobilenet.sample_image() and len(lines) == 4
    assert lines[1].split(maxsplit=2)[1:] == [str(EGYPTIAN_CAT), "Egyptian cat"]


def test_cli_image_without_weights_uses_the_bundled_model(net, tmp_path, capsys):
    from PIL import Image
    photo = tmp_path / "cat.png"
    Image.open(mobilenet.sample_image()).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photo)
    index, probs = top1(net, photo)
    assert main(["classify", str(photo), "--json", "--threads", "1"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert top[0]["index"] == index == EGYPTIAN_CAT and top[0]["label"] == "Egyptian cat"
    assert top[0]["probability"] == pytest.approx(float(probs[index]), abs=1e-6)


def test_cli_without_images_or_sample_is_a_usage_error(capsys):
    assert main(["classify"]) == 2
    err = capsys.readouterr().err
    assert "--sample" in err and err.count("\n") == 1


def test_installed_command_classifies_the_sample(tmp_path):
    # The console script's module, run from elsewhere: the installed package, not the source tree.
    done = subprocess.run([sys.executable, "-m", "mobilenet", "classify", "--sample", "--top", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].endswith("Egyptian cat")


def test_package_data_is_in_the_installed_distribution():
    dist = importlib.metadata.distribution("mobilenet")
    installed = {file.as_posix(): file for file in dist.files or ()}
    for name in (bundled.MODEL_FILE, bundled.LABELS_FILE, bundled.SAMPLE_FILE):
        entry = f"mobilenet/data/{name}"
        assert entry in installed, f"{entry} is not in the installed distribution's RECORD"
        assert pathlib.Path(dist.locate_file(installed[entry])).resolve() == bundled.DATA / name
    notices = [file for file in installed.values() if file.name == "NOTICE" and ".dist-info" in file.as_posix()]
    assert len(notices) == 1, "NOTICE is not in the wheel's .dist-info"
    assert pathlib.Path(dist.locate_file(notices[0])).read_bytes() == (REPO / "NOTICE").read_bytes()
    # Only these three data files ship: the repository holds no other model files.
    assert sorted(p.name for p in bundled.DATA.iterdir()) == sorted(
        [bundled.MODEL_FILE, bundled.LABELS_FILE, bundled.SAMPLE_FILE])


def test_notice_names_every_bundled_file_and_its_licence():
    notice = (REPO / "NOTICE").read_text()
    sections = {name: notice.split(name, 1)[1].split("-" * 20, 1)[0]
                for name in (bundled.MODEL_FILE, bundled.LABELS_FILE, bundled.SAMPLE_FILE)}
    assert "Apache License, Version 2.0" in sections[bundled.MODEL_FILE]
    assert MODEL_SHA256 in sections[bundled.MODEL_FILE]
    assert "Apache License, Version 2.0" in sections[bundled.LABELS_FILE]
    assert "CC0" in sections[bundled.SAMPLE_FILE] and "scikit-image" in sections[bundled.SAMPLE_FILE]
