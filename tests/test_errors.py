"""errors.first_line: one line, never cut mid-word, no terminal escapes."""

from __future__ import annotations

from edgeguard.errors import first_line


def test_first_line_keeps_whole_sentences():
    notice = (
        "\x1b[1mWeights only load failed.\x1b[0m This file can still be loaded, to do so you have two "
        "options, do those steps only if you trust the source of the checkpoint. In PyTorch 2.6 we "
        "changed the default value.\n\t(1) Re-running torch.load with weights_only set to False"
    )
    assert first_line(RuntimeError(notice), 60) == "Weights only load failed."
    assert "\x1b" not in first_line(RuntimeError(notice))


def test_first_line_cuts_at_a_word_with_an_ellipsis():
    got = first_line(ValueError("alpha " * 50), 40)
    assert got.endswith("alpha…") and len(got) <= 40 and "alph…" not in got


def test_first_line_short_blank_and_unbroken():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("\n\n  second line first\nthird")) == "second line first"
    assert first_line(ValueError("x" * 300), 50) == "x" * 49 + "…"
