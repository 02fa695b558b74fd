"""The study's configuration: profiles, overrides, YAML in and out, and validation.

No training here: building a config only imports Keras (for the model names).  YAML is
loaded safely (a ``!!python`` tag runs nothing), and a URL's password and tokens never
reach ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import SECRET_URL

from blurutils.catalog import ALL_LOSSES, ALL_MODELS
from blurutils.config import (PROFILES, StudyConfig, dump_config, from_dict, load_config,
                              make_config)
from blurutils.errors import BlurUtilsError, ConfigError
from blurutils.download import cache_key


def write_yaml(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- profiles

def test_profiles_are_the_documented_ones():
    assert set(PROFILES) == {"smoke", "demo", "excerpt", "standard", "paper", "film"}


def test_excerpt_profile_is_the_bundled_excerpt_at_the_papers_hyperparameters():
    c = make_config("excerpt")
    assert (c.source, c.max_frames, c.epochs) == ("excerpt", None, 10)
    assert (c.dense_batch_size, c.conv_batch_size) == (64, 1)
    assert c.keep_cuts is False and c.split == "interleaved"


def test_film_profile_is_the_pre_credit_film_at_the_papers_hyperparameters():
    c = make_config("film")
    assert (c.source, c.max_frames, c.epochs) == ("bigbuckbunny", None, 10)
    assert (c.dense_batch_size, c.conv_batch_size) == (64, 1)
    assert c.keep_cuts is False and c.keep_models is False


def test_smoke_profile_values():
    c = make_config("smoke")
    assert c.profile == "smoke"
    assert c.source == "sample"
    assert c.max_frames == 16
    assert c.epochs == 2
    assert c.dense_jit_compile is False
    assert c.models == list(ALL_MODELS)
    assert c.losses == list(ALL_LOSSES)
    # the rest stays at the paper's settings
    assert (c.dense_batch_size, c.conv_batch_size, c.test_fraction, c.split) == (64, 1, 0.3,
                                                                                 "interleaved")


def test_standard_profile_is_the_default_and_learns_from_synthetic_frames():
    from blurutils.config import STANDARD_FRAMES

    c = make_config()
    assert c == make_config("standard")
    assert (c.source, c.max_frames, c.synthetic_frames) == ("synthetic", STANDARD_FRAMES,
                                                            STANDARD_FRAMES)
    # a few hundred Adam steps for every dense model at the paper's batch size
    n_train = 0.7 * (STANDARD_FRAMES - 2)
    assert c.epochs * n_train / c.dense_batch_size >= 300


def test_demo_profile_is_the_dataclass_default_and_the_papers_hyperparameters():
    c = StudyConfig()
    assert c == make_config("demo")
    assert c.profile == "demo"
    assert c.source == "sample"
    assert c.max_frames is None          # the whole sample clip
    assert c.epochs == 10                # paper, section 3
    assert c.dense_batch_size == 64
    assert c.conv_batch_size == 1
    assert c.conv_filters == 16          # the paper's text
    assert c.test_fraction == 0.3
    assert c.split == "interleaved"      # no test frame is a training input (issue 13)
    assert c.frame_step == 1
    assert c.models == ["Backward", "Forward", "Bi-Directional", "Convolutional"]
    assert c.losses == ["MSE", "MSLE", "CP"]
    assert c.dense_jit_compile == "auto"  # XLA only for runs long enough to repay its compile


def test_paper_profile_values():
    c = make_config("paper")
    assert c.profile == "paper"
    assert c.source == "synthetic"
    assert c.max_frames == 12000
    assert c.synthetic_frames == 12000
    assert c.epochs == 10
    assert c.checkpoint_interval_s == 60.0
    assert len(c.models) * len(c.losses) == 12


def test_make_config_overrides_win_and_none_is_ignored():
    c = make_config("smoke", epochs=3, out="elsewhere", seed=7, split="blocked",
                    max_frames=None, conv_filters=None)
    assert c.epochs == 3
    assert c.out == "elsewhere"
    assert c.seed == 7
    assert c.split == "blocked"
    assert c.max_frames == 16            # None override ignored: the profile's value stays
    assert c.conv_filters == 16


def test_make_config_accepts_lists_of_models_and_losses():
    c = make_config("smoke", models=["Forward", "Convolutional"], losses=["MSE", "CP"])
    assert c.models == ["Forward", "Convolutional"]
    assert c.losses == ["MSE", "CP"]


@pytest.mark.parametrize("profile", ["fast", "Smoke", "", "paper "])
def test_unknown_profile_is_a_config_error(profile):
    with pytest.raises(ConfigError, match="profile"):
        make_config(profile)


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, BlurUtilsError)
    assert issubclass(ConfigError, ValueError)


# --------------------------------------------------------------------------- names

def test_models_as_a_comma_string():
    c = make_config("smoke", models="Forward,Backward", losses="mse, cp")
    assert c.models == ["Forward", "Backward"]
    assert c.losses == ["MSE", "CP"]


def test_models_as_a_space_separated_string():
    assert make_config("smoke", models="Forward Convolutional").models == ["Forward",
                                                                            "Convolutional"]


@pytest.mark.parametrize("given, expected", [
    ("conv", "Convolutional"),
    ("CONV", "Convolutional"),
    ("bi", "Bi-Directional"),
    ("bidirectional", "Bi-Directional"),
    ("forward", "Forward"),
    ("back", "Backward"),
])
def test_model_prefix_is_normalised(given, expected):
    assert make_config("smoke", models=[given]).models == [expected]


@pytest.mark.parametrize("models", ["b", "Sideways", "Forwardx", ""])
def test_unknown_or_ambiguous_model_is_a_config_error(models):
    with pytest.raises(ConfigError):
        make_config("smoke", models=models)


@pytest.mark.parametrize("losses", ["L1", "MAE", "MSE,huber", ""])
def test_unknown_loss_is_a_config_error(losses):
    with pytest.raises(ConfigError):
        make_config("smoke", losses=losses)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("overrides, word", [
    (dict(epochs=0), "epochs"),
    (dict(epochs=-1), "epochs"),
    (dict(max_frames=2), "max_frames"),
    (dict(test_fraction=1.5), "test_fraction"),
    (dict(test_fraction=0.0), "test_fraction"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(split="bogus"), "split"),
    (dict(models=["Sideways"]), "Sideways"),
    (dict(losses=["L1"]), "L1"),
    (dict(dense_batch_size=0), "dense_batch_size"),
    (dict(conv_filters=0), "conv_filters"),
    (dict(frame_step=0), "frame_step"),
    (dict(checkpoint_interval_s=-1.0), "checkpoint_interval_s"),
    (dict(seed=-1), "seed"),
])
def test_invalid_values_are_config_errors_naming_the_setting(overrides, word):
    with pytest.raises(ConfigError, match=word):
        make_config("smoke", **overrides)


def test_max_frames_three_is_the_smallest_allowed():
    assert make_config("smoke", max_frames=3).max_frames == 3


@pytest.mark.parametrize("key, value", [
    ("epochs", "ten"),
    ("epochs", 2.5),
    ("epochs", True),
    ("models", 5),
    ("models", [1, 2]),
    ("test_fraction", "0.3"),
    ("out", 5),
    ("dense_jit_compile", "yes"),
    ("dense_jit_compile", 1),
    ("max_frames", 16.0),
])
def test_wrong_types_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=key):
        from_dict(dict(PROFILES["smoke"], profile="smoke", **{key: value}))


def test_from_dict_rejects_unknown_keys_naming_them():
    with pytest.raises(ConfigError, match="learning_rate"):
        from_dict(dict(profile="demo", learning_rate=0.1))


def test_int_is_accepted_for_a_float_setting():
    c = from_dict(dict(profile="demo", checkpoint_interval_s=5))
    assert c.checkpoint_interval_s == 5.0
    assert isinstance(c.checkpoint_interval_s, float)


# --------------------------------------------------------------------------- YAML

def test_load_config_reads_a_yaml_file(tmp_path):
    path = write_yaml(tmp_path, "profile: smoke\nepochs: 3\nmodels: [Forward, conv]\n"
                                "losses: MSE, CP\nout: somewhere\nmax_frames: null\n")
    c = load_config(path)
    assert c.profile == "smoke"
    assert c.epochs == 3
    assert c.models == ["Forward", "Convolutional"]
    assert c.losses == ["MSE", "CP"]
    assert c.out == "somewhere"
    assert c.max_frames is None
    assert c.dense_jit_compile is False          # from the smoke profile


def test_load_config_without_profile_uses_the_default_profile(tmp_path):
    c = load_config(write_yaml(tmp_path, "epochs: 4\n"))
    assert c == make_config("standard", epochs=4)


def test_empty_yaml_file_is_the_default_profile(tmp_path):
    assert load_config(write_yaml(tmp_path, "")) == make_config("standard")


def test_load_config_overrides_win_over_the_file(tmp_path):
    path = write_yaml(tmp_path, "profile: smoke\nepochs: 5\nseed: 3\n")
    c = load_config(path, epochs=7, seed=None)
    assert c.epochs == 7
    assert c.seed == 3                           # None override ignored


def test_load_config_profile_override_wins_over_the_files_profile(tmp_path):
    path = write_yaml(tmp_path, "profile: smoke\nepochs: 5\n")
    c = load_config(path, profile="demo")
    assert c.profile == "demo"
    assert c.max_frames is None                  # quick's value, not smoke's 16
    assert c.epochs == 5                         # the file's own setting still applies


def test_unknown_key_in_yaml_names_the_key(tmp_path):
    path = write_yaml(tmp_path, "profile: smoke\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_typo_of_a_key_in_yaml_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(write_yaml(tmp_path, "epoch: 3\n"))


def test_unknown_profile_in_yaml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="fast"):
        load_config(write_yaml(tmp_path, "profile: fast\n"))


@pytest.mark.parametrize("text", ["profile: [1]\n", "profile: 5\n"])
def test_non_string_profile_in_yaml_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="profile"):
        load_config(write_yaml(tmp_path, text))


@pytest.mark.parametrize("text, key", [
    ('epochs: "ten"\n', "epochs"),
    ("epochs: ten\n", "epochs"),
    ("epochs: 2.5\n", "epochs"),
    ("models: 5\n", "models"),
    ("models: [1, 2]\n", "models"),
    ("test_fraction: [0.3]\n", "test_fraction"),
])
def test_wrong_type_in_yaml_is_a_config_error(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key):
        load_config(write_yaml(tmp_path, text))


@pytest.mark.parametrize("text", ["- epochs\n- 3\n", "just some text\n", "42\n", "[]\n"])
def test_yaml_that_is_not_a_mapping_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write_yaml(tmp_path, text))


@pytest.mark.parametrize("text", ["epochs: [1\n", "a: b: c\n", "key: 'unterminated\n",
                                  "\tepochs: 3\n"])
def test_invalid_yaml_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match="YAML"):
        load_config(write_yaml(tmp_path, text))


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, word", [
    ("epochs: 0\n", "epochs"),
    ("max_frames: 2\n", "max_frames"),
    ("test_fraction: 1.5\n", "test_fraction"),
    ("split: bogus\n", "split"),
    ("models: [Sideways]\n", "Sideways"),
    ("losses: [L1]\n", "L1"),
])
def test_invalid_values_in_yaml_are_config_errors(tmp_path, text, word):
    with pytest.raises(ConfigError, match=word):
        load_config(write_yaml(tmp_path, text))


@pytest.mark.parametrize("profile, overrides", [
    ("smoke", {}),
    ("demo", {}),
    ("paper", {}),
    ("smoke", dict(models="conv,bi", losses=["cp"], epochs=1, out="x/y", test_fraction=0.25,
                   split="blocked", seed=11, max_frames=None)),
], ids=["smoke", "demo", "paper", "custom"])
def test_dump_config_round_trips(tmp_path, profile, overrides):
    config = make_config(profile, **overrides)
    text = dump_config(config)
    path = write_yaml(tmp_path, text)
    again = load_config(path)
    assert again == config
    assert again.to_dict() == config.to_dict()
    assert dump_config(again) == text


def test_dump_config_writes_every_field():
    import yaml

    values = yaml.safe_load(dump_config(make_config("smoke")))
    assert set(values) == {f.name for f in dataclasses.fields(StudyConfig)}
    assert values["models"] == list(ALL_MODELS)
    assert values["epochs"] == 2


# --------------------------------------------------------------------------- safety

@pytest.mark.parametrize("text", [
    "epochs: !!python/object/apply:os.system ['touch {marker}']\n",
    "!!python/object/apply:os.system ['touch {marker}']\n",
    "seed: !!python/object/new:subprocess.check_output [['touch', '{marker}']]\n",
    "out: !!python/name:os.system\n",
])
def test_safety_yaml_python_tags_run_nothing(tmp_path, text):
    from blurutils.config import load_config

    marker = tmp_path / "YAML-RAN"
    path = tmp_path / "evil.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(path)
    assert "evil.yaml" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_secrets_never_reach_config_yaml(tmp_path):
    from blurutils.config import dump_config, load_config, make_config

    config = make_config("smoke", source=SECRET_URL)
    text = dump_config(config)
    assert "hunter2" not in text and "s3cr" not in text
    path = tmp_path / "config.yaml"
    path.write_text(text)
    # user:password is not part of the download's cache key, so a config written with
    # it redacted still finds the video downloaded with it.
    login = "https://alice:hunter2@videos.example.com/clip.mp4?id=7"
    path.write_text(dump_config(make_config("smoke", source=login)))
    assert "hunter2" not in path.read_text()
    assert cache_key(load_config(path).source) == cache_key(login)
