"""blurutils.viz: the notebooks' pictures draw what they say, with numbers from metrics;
blurutils.figures: the paper's figures beside the paper's numbers, saved as PNG files;
blurutils.lessons: notebooks 03-06's predict -> show -> measure -> summary in one call."""

from __future__ import annotations

import base64
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from blurutils import session, viz  # noqa: E402
from blurutils.metrics import blur_factor, relative_blur_factor  # noqa: E402
from blurutils.pairs import examples_for  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Ten textured uint8 frames, 100 x 200, each a little shifted."""
    rng = np.random.default_rng(3)
    base = (rng.random((100, 220)) * 255).astype(np.uint8)
    return np.stack([base[:, i:i + 200] for i in range(10)])


@pytest.fixture(scope="module")
def preds(frames: np.ndarray) -> list[viz.Predictions]:
    test = examples_for("forward", np.array([2, 5, 8]))
    smooth = np.full((3, 100, 200), 0.5, dtype=np.float32)
    smooth[:, 40:60, 50:150] = 0.6
    copy = frames[test.inputs[:, 0]].astype(np.float32) / 255
    return [viz.Predictions("Forward-MSE", test, smooth), viz.Predictions("Forward-CP", test, copy)]


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_predictions_must_match_examples(frames: np.ndarray) -> None:
    with pytest.raises(ValueError, match="2 predictions for 3 examples"):
        viz.Predictions("x", examples_for("forward", np.array([1, 2, 3])), np.zeros((2, 100, 200)))


def test_show_frames_grid_and_titles(frames: np.ndarray) -> None:
    fig = viz.show_frames(frames[:5], [f"f{i}" for i in range(5)], ncols=3, suptitle="strip")
    assert len(fig.axes) == 6                       # 2 rows x 3, the last one blank
    assert _titles(fig)[:5] == ["f0", "f1", "f2", "f3", "f4"]
    assert not fig.axes[5].axison
    image = fig.axes[0].get_images()[0]
    assert image.get_clim() == (0.0, 1.0)           # uint8 shown on the [0, 1] scale
    with pytest.raises(ValueError):
        viz.show_frames([])


def test_show_crop_draws_the_box() -> None:
    raw = np.zeros((72, 128, 3), dtype=np.uint8)
    fig = viz.show_crop(raw, (0, 4, 128, 64))
    (box,) = fig.axes[0].patches
    assert (box.get_width(), box.get_height()) == (128, 64)
    assert "x=0, y=4, 128x64" in fig.axes[0].get_title()


def test_show_split_counts_roles() -> None:
    fig = viz.show_split(12, np.array([1, 2, 3, 5, 6, 7, 9]), np.array([4, 8, 10]))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["input only (2)", "train target (7)", "test target (3)"]


def test_model_table_sums_to_the_parameter_count() -> None:
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    from blurutils.models import build_conv_autoencoder

    model = build_conv_autoencoder(16)
    table = viz.model_table(model)
    assert int(table["params"].sum()) == model.count_params() == 7265
    assert table["output_shape"].iloc[-1] == "(batch, 100, 200, 1)"
    assert list(table.columns) == ["layer", "kind", "output_shape", "params"]


def test_show_history_one_or_many_runs() -> None:
    h = pd.DataFrame(dict(epoch=[1, 2, 3], loss=[0.3, 0.2, 0.1], val_loss=[0.35, 0.25, 0.2]))
    assert len(viz.show_history(h).axes[0].lines) == 2
    fig = viz.show_history({"a": h, "b": h})
    assert len(fig.axes[0].lines) == 4


def test_show_predictions_titles_carry_bf_and_rbf(frames, preds) -> None:
    fig = viz.show_predictions(frames, preds, rows=[1])
    titles = _titles(fig)
    assert titles[0] == "input: frame 4"
    assert titles[1] == f"truth: frame 5\nBF {viz.format_bf(blur_factor(frames[5]))}"
    rbf = relative_blur_factor(preds[0].frames[1], frames[5].astype(np.float32) / 255)
    assert titles[2] == (f"Forward-MSE\nBF {viz.format_bf(blur_factor(preds[0].frames[1]))}, "
                         f"RBF {rbf:+.2f}")
    assert len(viz.show_predictions(frames, preds[0], n=3).axes) == 9


def test_show_predictions_refuses_mismatched_targets(frames, preds) -> None:
    other = viz.Predictions("Other", examples_for("forward", np.array([2, 6, 8])), preds[0].frames)
    with pytest.raises(ValueError, match="predicts frame 6"):
        viz.show_predictions(frames, [preds[0], other], rows=[1])


@pytest.fixture(scope="module")
def half_run(frames: np.ndarray) -> viz.Predictions:
    """A run on the half layout (a dense model under 6 GB): its own 50 x 100 frames."""
    import cv2

    small = np.stack([cv2.resize(f, (100, 50), interpolation=cv2.INTER_AREA) for f in frames])
    test = examples_for("forward", np.array([2, 5, 8]))
    copy = small[test.inputs[:, 0]].astype(np.float32) / 255
    return viz.Predictions("Forward-MSE (half)", test, copy, source=small)


def test_runs_in_another_layout_are_measured_against_their_own_frames(frames, preds, half_run):
    """Mixed layouts in one figure: each RBF against the truth in that run's layout."""
    fig = viz.show_predictions(frames, [preds[1], half_run], rows=[1])
    truth_half = half_run.source[5].astype(np.float32) / 255
    rbf = relative_blur_factor(half_run.frames[1], truth_half)
    assert _titles(fig)[3].endswith(f"RBF {rbf:+.2f}")
    test_fig = viz.show_test_frame(frames, half_run, 1)
    assert test_fig.axes[2].get_images()[0].get_array().shape == (50, 100)  # its own truth
    assert f"RBF       {rbf:+.3f}" in test_fig.axes[7].texts[0].get_text()
    with pytest.raises(ValueError, match="source frames"):
        viz.Predictions("x", half_run.examples, half_run.frames, source=frames)


def test_show_laplacians_numbers_come_from_metrics(frames) -> None:
    flat = np.full((100, 200), 0.5)
    fig = viz.show_laplacians({"frame": frames[0], "flat": flat})
    titles = _titles(fig)
    assert titles[:2] == ["frame", "flat"]
    assert titles[2].endswith(f"BF {viz.format_bf(blur_factor(frames[0]))}")
    assert titles[3] == "Laplacian: var 0\nBF inf"


def test_show_blur_map_hatches_flat_tiles(frames) -> None:
    image = frames[0].astype(np.float32) / 255
    image[:50, :50] = 0.5       # the top-left tile and its neighbours flat: that tile has BF = inf
    fig = viz.show_blur_map({"frame": image}, tile=25)
    heat = fig.axes[1]
    assert heat.get_images()[0].get_array().shape == (4, 8)
    assert len(heat.patches) == 1
    assert "25x25 tiles" in heat.get_title()


def test_show_test_frame_and_bounds(frames, preds) -> None:
    fig = viz.show_test_frame(frames, preds[1], 0)
    text = fig.axes[7].texts[0].get_text()
    assert "Forward-CP" in text and "RBF" in text and "PSNR" in text
    assert _titles(fig)[0] == "input: frame 1"
    with pytest.raises(IndexError):
        viz.show_test_frame(frames, preds[1], 3)


def test_frame_browser_builds_headless(frames, preds) -> None:
    browser = viz.frame_browser(frames, preds)
    slider, dropdown = browser.children[:2]
    assert (slider.min, slider.max, slider.value) == (0, 2, 0)
    assert list(dropdown.options) == ["Forward-MSE", "Forward-CP"]
    slider.value = 2                                   # redraws without error
    dropdown.value = "Forward-CP"
    with pytest.raises(ValueError):
        viz.frame_browser(frames, [])


def test_format_bf_and_report_filter() -> None:
    assert viz.format_bf(math.inf) == "inf"
    assert viz.format_bf(52.714) == "52.7"
    lines: list[str] = []
    keep = session.last_epoch_only(10, lines.append)
    for line in ["132 frames of sample", "Forward-MSE            epoch  9/10  loss 1",
                 "Forward-MSE            epoch 10/10  loss 1", "Conv-CP already done"]:
        keep(line)
    assert lines == ["132 frames of sample", "Forward-MSE            epoch 10/10  loss 1",
                     "Conv-CP already done"]


def test_display_path_hides_machine_folders(tmp_path, monkeypatch) -> None:
    from blurutils.paths import REPO_DIR

    monkeypatch.setenv("BLURUTILS_RESULTS_DIR", str(tmp_path / "res"))
    assert session.display_path(tmp_path / "res" / "notebooks" / "x") == "results/notebooks/x"
    assert session.display_path(REPO_DIR / "notebooks" / "a.ipynb") == "notebooks/a.ipynb"
    assert session.display_path(tmp_path / "elsewhere" / "clip.mp4") == "clip.mp4"


# --------------------------------------------------------------------------- beyond the paper

def test_trained_runs_only_keeps_headers_and_last_epochs() -> None:
    lines: list[str] = []
    report = session.trained_runs_only(2, lines.append)
    for line in ["— audit variant all on: quirks on: pairs",
                 "16 frames of sample: 5 training and 3 test pairs",
                 "Convolutional-MSE      epoch  1/2  loss 0.05",
                 "Convolutional-MSE      epoch  2/2  loss 0.04",
                 "Convolutional-MSE      already done; reusing its results"]:
        report(line)
    assert lines == ["— audit variant all on: quirks on: pairs",
                     "Convolutional-MSE      epoch  2/2  loss 0.04"]


def _audit_table() -> pd.DataFrame:
    rows = []
    for variant, scale in [("all on", 10.0), ("−e", 1.0), ("all off", 0.5)]:
        for run, bf in [("Convolutional MLAE - MSE", 2000.0), ("Convolutional MLAE - CP", 30.0)]:
            rows.append(dict(variant=variant, paper_row=run, bf_mean=bf * scale,
                             rbf_mean=scale - 1.0))
    return pd.DataFrame(rows)


def test_audit_heatmap_keeps_the_audit_order_and_annotates_values() -> None:
    fig = viz.show_audit_heatmap(_audit_table(), "bf_mean")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all on", "−e", "all off"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Convolutional - MSE",
                                                           "Convolutional - CP"]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["20,000", "2,000", "1,000"] and "15" in texts
    image = ax.get_images()[0].get_array()
    assert np.isclose(image[0, 0], 4.3010, atol=1e-3)      # log10(20,000)
    assert fig.axes[1].get_ylabel() == "log10 mean Blur Factor"


def test_audit_heatmap_of_negative_values_uses_a_symmetric_log() -> None:
    fig = viz.show_audit_heatmap(_audit_table(), "rbf_mean")
    image = fig.axes[0].get_images()[0].get_array()
    assert np.isclose(image[0, 2], -math.log10(1.5))        # rbf -0.5
    assert "sign" in fig.axes[1].get_ylabel()
    with pytest.raises(ValueError, match="no column 'nope'"):
        viz.show_audit_heatmap(_audit_table(), "nope")


def test_blur_vs_fidelity_draws_one_labelled_point_per_method() -> None:
    baseline = "baseline (no learning)"
    table = pd.DataFrame([
        dict(method="Convolutional MLAE - MSE", kind="autoencoder", psnr_mean=23.5,
             abs_rbf_mean=14.2),
        dict(method="Copy previous", kind=baseline, psnr_mean=35.1, abs_rbf_mean=0.0),
        dict(method="Linear blend", kind=baseline, psnr_mean=38.5, abs_rbf_mean=0.09)])
    fig = viz.show_blur_vs_fidelity(table)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["Convolutional - MSE", "Copy previous",
                                                "Linear blend"]
    points = [c.get_offsets()[0] for c in ax.collections]
    assert len(points) == 3 and points[1][1] == 1e-3       # |RBF| = 0 drawn at the floor
    with pytest.raises(ValueError, match="table3"):
        viz.show_blur_vs_fidelity(table.drop(columns="kind"))


@pytest.mark.parametrize("name", ["Forward", "Bi-Directional", "Convolutional"])
def test_architecture_diagram_matches_the_built_model(name: str) -> None:
    """The diagram is drawn from the catalogue without Keras; its boxes must follow the
    layers build_model makes (the Dense widths, or the conv/pool/upsample sequence)."""
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    from blurutils.models import build_model

    boxes = viz.architecture_layers(name, frame_shape=(20, 40))
    model = build_model(name, frame_shape=(20, 40))
    kinds = [type(layer).__name__ for layer in model.layers]
    if name == "Convolutional":
        built = [k for k in kinds if k in ("Conv2D", "MaxPooling2D", "UpSampling2D")]
        drawn = [b.label.split()[0] for b in boxes[1:]]
        assert drawn == [{"Conv2D": "Conv", "MaxPooling2D": "max-pool",
                          "UpSampling2D": "upsample"}[k] for k in built]
    else:
        units = [layer.units for layer in model.layers if type(layer).__name__ == "Dense"]
        drawn = [int(b.label.split()[1].split("\n")[0].replace(",", "")) for b in boxes
                 if b.label.startswith("Dense")]
        assert drawn == units
        assert [b.part for b in boxes].count("code") == 1
        assert boxes[0].size == 20 * 40 * (2 if name == "Bi-Directional" else 1)
    fig = viz.show_architecture(name)
    assert name in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) >= len(viz.architecture_layers(name))
    plt.close(fig)


def test_blur_vs_fidelity_axes_are_words_with_units() -> None:
    table = pd.DataFrame(dict(method=["A", "Copy previous"], kind=["autoencoder", "baseline"],
                              psnr_mean=[20.0, 30.0], abs_rbf_mean=[1.0, 0.01]))
    fig = viz.show_blur_vs_fidelity(table)
    assert fig.axes[0].get_xlabel().startswith("mean PSNR (dB)")
    assert fig.axes[0].get_ylabel().startswith("mean |RBF|")


def test_widget_with_static_fallback_carries_a_png(frames, preds) -> None:
    import matplotlib.pyplot as plt

    browser = viz.frame_browser(frames, preds)
    fig, ax = plt.subplots()
    shown = viz.with_static_fallback(browser, fig)
    bundle = shown._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number)


def test_one_line_interrupt_keeps_the_message_only() -> None:
    from blurutils import session

    with pytest.raises(session.StoppedByUser) as caught:
        with session.one_line_interrupt("stopped: finished runs are kept"):
            raise KeyboardInterrupt
    assert caught.value._render_traceback_() == ["stopped: finished runs are kept"]
    assert caught.value.__suppress_context__
    with session.one_line_interrupt("unused"):
        pass
    with pytest.raises(ValueError):
        with session.one_line_interrupt("unused"):
            raise ValueError("other errors pass through")


def test_unfinished_runs_lists_what_run_study_would_train(tmp_path, isolated_data_dir) -> None:
    from blurutils.config import make_config
    from blurutils.study import unfinished_runs

    config = make_config("smoke", models=["Convolutional"], losses=["MSE", "CP"], epochs=1,
                         out=str(tmp_path / "study"))
    assert unfinished_runs(config) == ["Convolutional-MSE", "Convolutional-CP"]


# --------------------------------------------------------------------------- the paper's figures

def _table(column_values: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([dict(model=m, loss=l, mean=v, ci_low=v * 0.9, ci_high=v * 1.1)
                         for (m, l), v in column_values.items()])


def test_figures_3_and_4_put_this_reproduction_beside_the_paper(tmp_path) -> None:
    from blurutils import figures

    fig3 = figures.figure3_blur_factor(_table({("Forward", "MSE"): 120.0,
                                               ("Convolutional", "MSE"): 800.0}))
    ours, paper = fig3.axes[:2]
    assert (ours.get_title(), paper.get_title()) == (figures.OURS, figures.PAPER)
    assert ours.get_yscale() == "log"
    assert len(ours.lines) == 2                       # one 95% interval per bar of ours
    fig4 = figures.figure4_relative_blur_factor(_table({("Forward", "MSE"): -0.4}))
    assert fig4.axes[0].get_yscale() == "symlog"      # a negative RBF stays visible
    path = figures.save_figure(fig4, tmp_path / "figure4.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig4.number)


def test_figure2_draws_ours_above_the_papers_curves() -> None:
    from blurutils import figures

    h = pd.DataFrame(dict(epoch=[1, 2], loss=[0.3, 0.2], val_loss=[0.35, 0.25]))
    data = figures.loss_curves_frame({("Forward", "MSE"): h})
    assert set(data["source"]) == {figures.OURS, figures.PAPER}
    assert set(data["loss"]) == {"MSE"} and set(data["split"]) == {"train", "test"}
    fig = figures.figure2_training_loss({("Forward", "MSE"): h})
    assert fig.axes[0].get_title() == f"{figures.OURS} — MSE"


# --------------------------------------------------------------------------- lessons 03-06

def test_evaluate_model_is_the_notebooks_block(frames: np.ndarray) -> None:
    """``evaluate_model`` gives what notebooks 03-06 wrote out: predict, the true frames,
    frame_metrics per test frame, the summary table, and the three-frame picture."""
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    from blurutils.evaluation import frame_metrics
    from blurutils.lessons import evaluate_model
    from blurutils.metrics import summarize
    from blurutils.models import build_model
    from blurutils.training import predict

    model = build_model("Convolutional")
    test = examples_for("forward", np.array([2, 5, 8]))
    evaluated = evaluate_model(model, frames, test, name="Convolutional-MSE")
    pred = predict(model, frames, test)
    truth = frames[test.targets]
    metrics = frame_metrics(pred, truth, test.targets)
    np.testing.assert_array_equal(evaluated.pred, pred)
    np.testing.assert_array_equal(evaluated.truth, truth)
    pd.testing.assert_frame_equal(evaluated.metrics, metrics)
    summary = pd.DataFrame({column: summarize(metrics[column])
                            for column in ["bf_pred", "bf_true", "rbf", "psnr", "ssim"]}).T
    pd.testing.assert_frame_equal(
        evaluated.summary(), summary[["mean", "std", "median", "min", "max", "n_inf"]].round(3))
    fig = evaluated.show(n=3)
    assert len(fig.axes) == 9
    assert fig.axes[2].get_title().startswith("Convolutional-MSE\nBF ")
