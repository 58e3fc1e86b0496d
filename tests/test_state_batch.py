"""State written in a batch still holds every write that reached the server but the one in
flight when the process dies (the runner's fault hook: os._exit, no clean-up, no commit)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kontaktsync.sync.core.runner import FAULT_ENV, FAULT_EXIT_CODE
from kontaktsync.sync.core.state import ItemRow, StateStore

from tests.cli import clean_env

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kontaktsync.sync.core.runner import run_sync
    from kontaktsync.sync.targets.memory import MemTarget
    from tests.builders import obligation, plan_of, settings

    s = settings()
    s = s.model_copy(update={"sync": s.sync.model_copy(update={"state_path": Path(sys.argv[1])})})
    plan = plan_of(*(obligation(str(100000 + i)) for i in range(10)))  # 20 items: task + marker
    run_sync(s, plan=plan, target=MemTarget())
    """
)


def _row(uid: str) -> ItemRow:
    return ItemRow(uid, "anna", uid, "1", "h", "1", "contact", "task", "c", None, None, "open")


@pytest.mark.parametrize("crash_after", [1, 2, 7, 20])
def test_a_crash_loses_only_the_write_in_flight(tmp_path: Path, crash_after: int) -> None:
    state = tmp_path / "st.sqlite3"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(state)],
        cwd=root,
        env=clean_env(**{FAULT_ENV: str(crash_after)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == FAULT_EXIT_CODE, proc.stderr[-2000:]
    with StateStore(state) as st:
        assert len(st.items("anna")) == crash_after - 1


def test_a_batch_keeps_what_was_committed_and_commits_the_rest_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "st.sqlite3"
    with StateStore(path) as st, StateStore(path) as reader:
        with st.batch():
            st.put(_row("a"))
            assert reader.items() == {}  # not committed yet: another connection sees nothing
            st.commit()
            assert set(reader.items()) == {"a"}
            st.put(_row("b"))
            st.drop("a", "anna")
            assert set(reader.items()) == {"a"}
        assert set(reader.items()) == {"b"}
        st.put(_row("c"))  # outside a batch: committed at once
        assert set(reader.items()) == {"b", "c"}
