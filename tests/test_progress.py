"""latentid.progress: the bars a Python user gets from a fit's callback, one per stage, on their console."""

from __future__ import annotations

import io

from rich.console import Console

from latentid.models import VaDE
from latentid.progress import training_progress


def test_a_fit_draws_one_bar_per_stage_on_the_console_given(gmm_data):
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    model = VaDE(latent_dim=2, n_components=4, hidden_dims=[8], epochs=3, pretrain_epochs=2, n_restarts=1, n_init=1)
    with training_progress(console=console) as show:
        model.set_params(callback=show, random_state=0).fit(gmm_data[0])
    text = out.getvalue()
    stages = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert stages[:2] == ["pretrain", "prior"] and "train" in stages  # one bar per stage, training's its own
    assert "3/3" in text and "2/2" in text and "loss" in text  # epochs done of epochs, and the loss
    assert "restart" not in text  # one restart: "(restart 1 of 1)" pushed the times off an 80-column line
    with training_progress(enabled=False) as show:
        assert show is None
