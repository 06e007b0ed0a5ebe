"""The study ETA counts epochs: it falls through a trial, has a figure after the first epoch, learns the
pruner's savings from ended trials, and divides the work between parallel workers."""

from __future__ import annotations

from sweep.run.eta import StudyEta


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_eta_falls_through_trials_and_learns_what_pruning_saves() -> None:
    clock = Clock()
    eta = StudyEta(clock)
    eta.study_start(trials_left=3)
    assert eta.text() == "?", "no figure before the first epoch"

    seen = []
    eta.trial_start(0, epochs=4)
    for epoch in range(1, 5):  # 10 s per epoch throughout
        clock.now += 10
        eta.epoch_end(0, epoch)
        seen.append(eta.seconds_left())
    # After epoch 1: 3 epochs of this trial + 2 trials x 4 epochs, at 10 s each.
    assert seen == [110.0, 100.0, 90.0, 80.0]
    eta.trial_end(0, result=True)

    eta.trial_start(0, epochs=4)
    clock.now += 10
    eta.epoch_end(0, 1)
    assert eta.seconds_left() == 70.0  # 3 left of this one + 1 trial x 4 epochs
    clock.now += 10
    eta.epoch_end(0, 2)
    eta.trial_end(0, result=True)  # pruned after 2 of 4 epochs: ended trials trained 6 of 8 planned epochs

    eta.trial_start(0, epochs=4)
    assert eta.seconds_left() == 40.0, "the last trial is expected to train its 4 epochs in full while it runs"
    clock.now += 10
    eta.epoch_end(0, 1)
    assert eta.seconds_left() == 30.0
    eta.trial_end(0, result=True)
    assert eta.text() == "00:00:00"


def test_expected_epochs_of_trials_not_started_shrink_with_pruning() -> None:
    clock = Clock()
    eta = StudyEta(clock)
    eta.study_start(trials_left=3)
    eta.trial_start(0, epochs=8)
    clock.now += 20
    eta.epoch_end(0, 1)
    eta.epoch_end(0, 2)
    eta.trial_end(0, result=True)  # pruned after 2 of 8 epochs: a trial now trains 1/4 of its plan
    assert eta.seconds_left() == 2 * 8 * 0.25 * 10.0
    assert eta.text() == "00:00:40"


def test_an_interrupted_attempt_gives_its_place_back_and_a_resumed_retry_counts_only_new_epochs() -> None:
    clock = Clock()
    eta = StudyEta(clock)
    eta.study_start(trials_left=1)
    eta.trial_start(0, epochs=4)
    clock.now += 10
    eta.epoch_end(0, 1)
    eta.trial_end(0, result=False)  # SIGTERM: a retry will run it again
    assert eta.seconds_left() == 40.0, "the whole trial is left: its retry may start from scratch"

    eta.trial_start(0, epochs=4)
    eta.trial_resumed(0, epoch=1)
    clock.now += 10
    eta.epoch_end(0, 2)
    # 2 epochs trained by this invocation in 20 s; 2 epochs of the retry left.
    assert eta.seconds_left() == 20.0


def test_parallel_workers_share_the_work_left() -> None:
    clock = Clock()
    eta = StudyEta(clock)
    eta.study_start(trials_left=4)
    eta.trial_start(0, epochs=4)
    eta.trial_start(1, epochs=4)
    clock.now += 10  # both workers finish an epoch in the same 10 s
    eta.epoch_end(0, 1)
    eta.epoch_end(1, 1)
    # 5 s per epoch of the whole machine; 3 + 3 epochs running, 2 trials x 4 epochs to start.
    assert eta.seconds_left() == 70.0


def test_nothing_left_reads_as_a_dash() -> None:
    eta = StudyEta(Clock())
    eta.study_start(trials_left=0)
    assert eta.text() == "-"
