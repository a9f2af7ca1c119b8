"""Pin the public names so a refactor cannot change the API by accident."""

import moonflow


def test_public_names():
    assert sorted(moonflow.__all__) == [
        "App",
        "AppError",
        "Entry",
        "ErrorInfo",
        "MoonflowError",
        "UsageError",
        "WorkflowFailure",
        "build_workers",
        "load_app",
    ]
    for name in moonflow.__all__:
        assert getattr(moonflow, name) is not None
