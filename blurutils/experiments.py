"""The last stage's face: the paper's experiments run, audited and compared.

A study is the paper's 12-run grid (four models x three losses) made from one
``StudyConfig``; the audit reruns parts of it with the authors' quirks switched on and
off; the results are compared with the paper's published tables and drawn as its
figures.  Runs are saved under ``results_dir()``, each in its own folder.

==================  ====================================================================
defined in          names
==================  ====================================================================
``config``          ``make_config``
``study``           ``run_study``, ``run_frames``, ``FrameRequest``, ``unfinished_runs``
``audit``           ``run_audit``, ``audit_variants``
``reference``       ``paper_tables``, ``comparison_with_intervals``
``catalog``         ``paper_row``
``figures``         ``figure2_training_loss``, ``figure3_blur_factor``,
                    ``figure4_relative_blur_factor``
``interpolate``     ``interpolate``, ``write_gif``, ``write_video``
``paths``           ``results_dir``, ``REPO_DIR``
``session``         ``display_path``, ``trained_runs_only``, ``one_line_interrupt``
``verdicts``        ``read_study_readings``, ``side_by_side``
==================  ====================================================================

Importing it does not import TensorFlow: each run trains in a worker process.
"""

from .audit import audit_variants, run_audit
from .catalog import paper_row
from .config import make_config
from .figures import figure2_training_loss, figure3_blur_factor, figure4_relative_blur_factor
from .interpolate import interpolate, write_gif, write_video
from .paths import REPO_DIR, results_dir
from .reference import comparison_with_intervals, paper_tables
from .session import display_path, one_line_interrupt, trained_runs_only
from .study import FrameRequest, run_frames, run_study, unfinished_runs
from .verdicts import read_study_readings, side_by_side

__all__ = [
    "FrameRequest", "REPO_DIR", "audit_variants", "comparison_with_intervals", "display_path",
    "figure2_training_loss", "figure3_blur_factor", "figure4_relative_blur_factor",
    "interpolate", "make_config", "one_line_interrupt", "paper_row", "paper_tables",
    "read_study_readings", "results_dir", "run_audit", "run_frames", "run_study",
    "side_by_side", "trained_runs_only", "unfinished_runs", "write_gif", "write_video",
]
