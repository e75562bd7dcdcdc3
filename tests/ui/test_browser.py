"""The review notebook in a real JupyterLab, in a real browser (Debian's Chromium, Playwright).

Starts JupyterLab on 127.0.0.1 with a copy of notebooks/03_review.ipynb, runs it at tiny sizes
through the menu (Run > Run All Cells), clicks "Send to labeling" and "Skip" on two picks the
notebook left undecided in the review grid, picks a class and draws one box with the mouse in
the box editor, submits it, then checks the project ledger (decisions, labels, image state) and
the YOLO label file on disk. The score explorer and the embedding map must render (histogram,
points). Every request the page makes must stay on loopback. A second test runs
notebooks/09_audit.ipynb and clicks "Accept", "Send back" and "Fix" on the suspects view, draws
a box in the box editor that opens and submits it (the label replaced, the old one in the
ledger's history).

Screenshots (and, on failure, the page and the server log) go to ``$ALKIT_TEST_ARTIFACTS``
(default ``test-artifacts/``), under ``browser/``. ``ALKIT_UPDATE_SCREENSHOTS=1`` runs the
notebook at its own, realistic sizes (a few minutes) and saves the review grid as the README
image, data_samples/examples/review_grid.png. Without Chromium or Playwright the test skips, and
fails when ``CI`` is set (``make test`` installs both).
"""

import contextlib
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from jupyter_harness import (
    JupyterLab,
    artifacts_dir,
    button,
    chromium,
    open_notebook,
    run_all,
    wait_images_loaded,
    wait_run_finished,
    wait_visible,
)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03_review.ipynb"
README_IMAGE = REPO / "data_samples" / "examples" / "review_grid.png"
UPDATE_SCREENSHOTS = os.environ.get("ALKIT_UPDATE_SCREENSHOTS") == "1"
# the notebook's sizes: tiny for the test; its own defaults for the README picture
NOTEBOOK_ENV = {} if UPDATE_SCREENSHOTS else {
    "ALKIT_NB_PRESET": "tiny", "ALKIT_NB_EPOCHS": "1", "ALKIT_NB_IMGSZ": "64",
    "ALKIT_NB_BUDGET": "8"}
RUN_TIMEOUT_S = 900 if UPDATE_SCREENSHOTS else 420  # the notebook's own compute, busy CPU
VIEWPORT = (1400, 1800)  # tall enough for a whole page of the grid (3 rows of 4 cards)
CLASS_ID, CLASS_NAME = 1, "one"  # the drawn box gets the sample benchmark's second class
DRAG = (0.35, 0.30)  # the drawn box's size, as a share of the image's width and height


class Phases:
    """Seconds since the start at each named step, written next to the screenshots."""

    def __init__(self, path: Path):
        self.path, self.start, self.lines = path, time.monotonic(), []

    def __call__(self, name: str) -> None:
        self.lines.append(f"{time.monotonic() - self.start:7.1f} s  {name}")
        self.path.write_text("\n".join(self.lines) + "\n")


def _ledger(project_db: Path, query: str) -> list[tuple]:
    db = sqlite3.connect(project_db, timeout=10)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)
    return result


def _shoot(widget, path: Path, *, messages: bool = True) -> None:
    """A screenshot of a widget from its top-left corner to the right edge of its content (an
    output area is as wide as the notebook; the cards are not); without the status messages
    under its last button when ``messages`` is false (they name temporary folders)."""
    widget.evaluate("el => el.scrollIntoView({block: 'start'})")
    wait_images_loaded(widget)
    clip = widget.evaluate("""(el, messages) => {
        const box = el.getBoundingClientRect();
        let right = box.left + 100, bottom = box.top + 100;
        for (const part of el.querySelectorAll('img, button, .alkit-review-card, svg')) {
            const r = part.getBoundingClientRect();
            right = Math.max(right, r.right);
            bottom = Math.max(bottom, r.bottom);
        }
        right = Math.min(right + 6, box.right);
        bottom = messages ? box.bottom : Math.min(bottom + 6, box.bottom);
        return {x: box.left, y: box.top, width: right - box.left, height: bottom - box.top};
    }""", messages)
    widget.page.screenshot(path=path, clip=clip)


def _palette(path: Path) -> None:
    """Rewrite a PNG with a 256-colour palette (half the bytes; the repository keeps it)."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)


def _free_drag(frame: dict, taken: list[dict]) -> tuple[tuple[float, float], ...]:
    """A drag (two corners, in shares of the image) that starts on no existing box: a press
    on one of the model's boxes would move that box instead of drawing a new one."""
    width, height = DRAG
    for fx, fy in ((0.55, 0.1), (0.1, 0.55), (0.55, 0.55), (0.1, 0.1), (0.3, 0.3)):
        x, y = frame["x"] + fx * frame["width"], frame["y"] + fy * frame["height"]
        if not any(r["x"] - 2 <= x <= r["x"] + r["width"] + 2
                   and r["y"] - 2 <= y <= r["y"] + r["height"] + 2 for r in taken):
            return (fx, fy), (fx + width, fy + height)
    raise AssertionError(f"no free spot to start a box: the model's boxes cover {taken}")


def _notebook_env(notebook: Path, tmp_path: Path, sizes: dict) -> tuple[Path, Path, dict]:
    """A copy of ``notebook`` in ``tmp_path/notebooks`` and the kernel's environment: the
    server's, with the notebook ``sizes`` and its working folder (ALKIT_HOME, ALKIT_RUNS_DIR
    and the offline guard with its log come from conftest.py). Returns ``(notebooks folder,
    working folder, environment)``."""
    notebooks, workdir = tmp_path / "notebooks", tmp_path / "work"
    notebooks.mkdir()
    shutil.copy(notebook, notebooks / notebook.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALKIT_NB_")}
    env.update(sizes, ALKIT_NB_WORKDIR=str(workdir))
    assert env["ALKIT_NETWORK_GUARD"] == "1" and env["ALKIT_NETWORK_GUARD_LOG"]
    return notebooks, workdir, env


def _draw_box(page, editor) -> tuple[tuple[float, float], ...]:
    """Pick class CLASS_NAME in the box editor and draw a box with the mouse where no box is;
    returns the drag's corners in shares of the image."""
    editor.evaluate("el => el.scrollIntoView({block: 'start'})")
    wait_images_loaded(editor)
    # the class picker: one chip "<name> <key>" per class
    editor.get_by_text(re.compile(rf"^\s*{CLASS_NAME}\s+{CLASS_ID + 1}\s*$")).click()
    frame = editor.locator("img").first.bounding_box()
    taken = [r for r in (rect.bounding_box() for rect in editor.locator("svg rect").all()) if r]
    drag = _free_drag(frame, taken)
    (x0, y0), (x1, y1) = ((frame["x"] + fx * frame["width"], frame["y"] + fy * frame["height"])
                          for fx, fy in drag)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=10)
    page.mouse.up()
    return drag


@pytest.mark.slow
@pytest.mark.timeout(2 * RUN_TIMEOUT_S)
def test_review_notebook_in_a_real_browser(chromium_path, tmp_path):
    artifacts = artifacts_dir("browser")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    phase = Phases(artifacts / "timings.txt")
    notebooks, workdir, env = _notebook_env(NOTEBOOK, tmp_path, NOTEBOOK_ENV)

    with JupyterLab(notebooks, tmp_path / "jupyter", env) as lab, \
            chromium(chromium_path, viewport=VIEWPORT) as (page, requests):
        phase("JupyterLab answers, Chromium started")
        try:
            open_notebook(page, lab.url(NOTEBOOK.name))
            phase("notebook open, kernel idle")
            run_all(page)
            grid = wait_visible(page, page.locator(".alkit-review-grid"), RUN_TIMEOUT_S,
                                "the review grid")
            phase("review grid rendered")
            wait_run_finished(page, RUN_TIMEOUT_S)
            phase("every cell ran")
            # the other two widgets render too: the explorer's histogram, the map's points
            explorer = wait_visible(page, page.locator(".alkit-score-explorer"), 10,
                                    "the score explorer")
            _shoot(explorer, artifacts / "0-score-explorer.png")
            assert explorer.locator("img").count() >= 1
            embedding_map = wait_visible(page, page.locator(".alkit-embedding-map"), 10,
                                         "the embedding map")
            _shoot(embedding_map, artifacts / "5-embedding-map.png")
            assert embedding_map.locator("svg circle").count() > 0
            _shoot(grid, artifacts / "1-review-grid.png")
            if UPDATE_SCREENSHOTS:
                _shoot(grid, README_IMAGE, messages=False)
                _palette(README_IMAGE)

            [project_db] = workdir.rglob("project.db")
            last_decision = _ledger(project_db, "SELECT COALESCE(MAX(id), 0) FROM decisions")
            labels_before = _ledger(project_db, "SELECT image_id FROM labels")
            # the notebook decides some picks from code and leaves the others (the first one
            # among them) to a person: decide two of those
            undecided = grid.locator(".alkit-review-card").filter(has_text="undecided")
            assert undecided.count() >= 2, "the grid leaves fewer than two picks undecided"
            button(undecided.nth(0), "Send to labeling").click()
            button(undecided.nth(1), "Skip").click()
            new_decisions = _wait_for(
                lambda: (rows := _ledger(
                    project_db, "SELECT id, image_id, round, decision FROM decisions "
                    f"WHERE id > {last_decision[0][0]} ORDER BY id")) and len(rows) >= 2 and rows,
                20, "two new decisions in the ledger")
            phase("two decisions in the ledger")
            _shoot(grid, artifacts / "2-after-decisions.png")

            editor = wait_visible(page, page.locator(".alkit-box-editor"), 30, "the box editor")
            drag = _draw_box(page, editor)
            _shoot(editor, artifacts / "3-box-drawn.png")
            button(editor, "Submit").click()
            new_labels = _wait_for(
                lambda: [row for row in _ledger(
                    project_db, "SELECT image_id, label_path, source, n_objects FROM labels")
                    if (row[0],) not in labels_before],
                20, "new label in the ledger")
            phase("box submitted, label in the ledger")
            with contextlib.suppress(PlaywrightTimeout):  # the editor's own note, for the picture
                editor.get_by_text(re.compile(r"^wrote ")).wait_for(timeout=5_000)
            _shoot(editor, artifacts / "4-after-submit.png")
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=artifacts / "failure.png")
            (artifacts / "jupyter.log").write_text(lab.log_tail(200_000))
            raise
    phase("browser, server and kernel stopped")

    assert [row[3] for row in new_decisions] == ["label", "skip"]
    assert len({row[1] for row in new_decisions}) == 2 and {row[2] for row in new_decisions} == {1}
    [(image_id, label_path, source, n_objects)] = new_labels
    assert source == "widget"
    assert _ledger(project_db, f"SELECT state FROM images WHERE id = {image_id}") == [("labeled",)]
    assert image_id not in [row[1] for row in new_decisions if row[3] == "skip"]
    label_file = Path(label_path)
    if not label_file.is_absolute():
        label_file = project_db.parent / label_file
    lines = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
    assert len(lines) == n_objects >= 1
    (fx0, fy0), (fx1, fy1) = drag
    expected = ((fx0 + fx1) / 2, (fy0 + fy1) / 2, fx1 - fx0, fy1 - fy0)  # YOLO xc yc w h
    drawn = [line for line in lines if int(line[0]) == CLASS_ID and all(
        abs(float(v) - e) < 0.03 for v, e in zip(line[1:], expected, strict=True))]
    assert drawn, f"no line of {label_file} is the drawn box {CLASS_ID} {expected}: {lines}"
    outside = requests.outside_loopback()
    assert outside == [], f"the page reached beyond loopback: {outside}"
    assert len(requests) > 50  # the log works: JupyterLab alone loads many files


AUDIT_NOTEBOOK = REPO / "notebooks" / "09_audit.ipynb"
AUDIT_ENV = {"ALKIT_NB_PRESET": "small", "ALKIT_NB_EPOCHS": "1", "ALKIT_NB_IMGSZ": "64",
             "ALKIT_NB_AUDIT_BUDGET": "20"}


@pytest.mark.slow
@pytest.mark.timeout(2 * RUN_TIMEOUT_S)
def test_audit_suspects_in_a_real_browser(chromium_path, tmp_path):
    """Notebook 09 at small sizes in JupyterLab: on the suspects view, "Accept" on one card,
    "Send back" on another, "Fix" on a third opens the box editor under the cards, where a box
    drawn with the mouse and submitted replaces the label (the old one in the history)."""
    artifacts = artifacts_dir("browser-audit")
    phase = Phases(artifacts / "timings.txt")
    notebooks, workdir, env = _notebook_env(AUDIT_NOTEBOOK, tmp_path, AUDIT_ENV)
    with JupyterLab(notebooks, tmp_path / "jupyter", env) as lab, \
            chromium(chromium_path, viewport=VIEWPORT) as (page, requests):
        try:
            open_notebook(page, lab.url(AUDIT_NOTEBOOK.name))
            run_all(page)
            view = wait_visible(page, page.locator(".alkit-suspects"), RUN_TIMEOUT_S,
                                "the suspects view")
            wait_run_finished(page, RUN_TIMEOUT_S)
            phase("every cell ran")
            _shoot(view, artifacts / "1-suspects.png")
            [project_db] = workdir.rglob("project.db")
            decided = _ledger(project_db, "SELECT image_id FROM audit_decisions")
            # the notebook fixed one image and sent one back from code after the view was
            # drawn: their cards still read "undecided"; click three other cards
            names = [Path(path).name for (path,) in _ledger(
                project_db, "SELECT i.path FROM audit_decisions d JOIN images i ON "
                "i.id = d.image_id")]
            cards = view.locator(".alkit-suspect-card")
            free = [cards.nth(i) for i in range(cards.count())
                    if not any(name in cards.nth(i).inner_text() for name in names)]
            assert len(free) >= 3, "fewer than three cards left undecided on the first page"
            button(free[0], "Accept").click()
            _wait_for(lambda: _ledger(project_db, "SELECT image_id FROM audit_decisions WHERE "
                                      "decision = 'accept'"), 20, "an accept in the ledger")
            button(free[1], "Send back").click()
            _wait_for(lambda: len(_ledger(project_db, "SELECT id FROM relabels")) >= 2, 20,
                      "a second relabel request")
            button(free[2], "Fix").click()
            editor = wait_visible(page, view.locator(".alkit-box-editor"), 30, "the box editor")
            _draw_box(page, editor)
            button(editor, "Submit").click()
            history = _wait_for(lambda: _ledger(
                project_db, "SELECT image_id, reason FROM label_history ORDER BY id"
            )[1:], 20, "a second replaced label in the history")
            phase("accept, send back and fix in the ledger")
            _shoot(view, artifacts / "2-after-decisions.png")
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=artifacts / "failure.png")
            (artifacts / "jupyter.log").write_text(lab.log_tail(200_000))
            raise
    rows = _ledger(project_db, "SELECT image_id, decision FROM audit_decisions ORDER BY id")
    new = rows[len(decided):]
    assert [d for _, d in new] == ["accept", "send_back", "fix"]
    assert len({i for i, _ in new}) == 3  # three different cards
    [(image_id, reason)] = history
    assert image_id == new[2][0] and reason.startswith("audit 0: fixed in the box editor")
    [(label_path, n_objects)] = _ledger(
        project_db, f"SELECT label_path, n_objects FROM labels WHERE image_id = {image_id}")
    lines = Path(label_path).read_text().splitlines()
    assert len(lines) == n_objects and any(line.split()[0] == str(CLASS_ID) for line in lines)
    outside = requests.outside_loopback()
    assert outside == [], f"the page reached beyond loopback: {outside}"
