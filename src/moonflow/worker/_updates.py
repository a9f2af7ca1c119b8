"""What happens to update handlers still running when a workflow run ends (issue 17 item 14).

An update reaches Lua as a message from ``{update|<id>}`` and its caller waits until the code
answers (``_messages.py``). Temporal's SDKs recommend that a workflow wait for its handlers
before it completes or continues as new (``wait_condition(all_handlers_finished)``; in
moonflow ``workflow.wait_handlers()``); they do not wait by default, and neither does
moonflow: waiting by default would change when runs already in flight complete, so their
histories would no longer replay.

When a run ends with an update unanswered, :func:`end_updates` logs a warning naming the update
and its id, and answers its caller with kind ``Unavailable`` and a message saying why (instead
of the server's "Workflow completed before the Update completed", which reaches the caller as
kind ``Unknown``); after a continue-as-new the error is retryable (the new run can take the
update). The answer is guarded by the patch ``moonflow.end_unfinished_updates``: a replay of a
history from before it leaves the update unanswered, as that run did.
"""

from __future__ import annotations

import logging

from temporalio import workflow

from .. import errors as mferrors
from ._messages import Mailbox

_log = logging.getLogger("moonflow.worker")

#: Patch id recorded by a new run that answers unfinished updates as it ends.
END_UPDATES_PATCH = "moonflow.end_unfinished_updates"

#: How the run ended -> the words in the warning and the caller's message.
COMPLETED = "completed"
FAILED = "failed"
CONTINUED = "continued as new"


async def end_updates(mailbox: Mailbox, ended: str) -> None:
    """Answer the updates the run leaves unanswered as it ends, then let their handlers finish.

    Args:
        mailbox: the run's mailbox (its pending update records).
        ended: :data:`COMPLETED`, :data:`FAILED` or :data:`CONTINUED`.

    Workflow context only; issues no command but the patch marker (once, in runs that need
    it), so a run that ends with every update answered has the history it had before.
    """
    pending = mailbox.unfinished_updates()
    if pending:
        info = workflow.info()
        if not workflow.unsafe.is_replaying():
            for uid, rec in pending:
                _log.warning(
                    "workflow %s (%s): update %r (id %s) was still running when the workflow "
                    "%s; its caller gets kind %s. Call workflow.wait_handlers() before "
                    "returning or continuing as new to let update handlers finish",
                    info.workflow_id,
                    info.workflow_type,
                    rec.name,
                    uid,
                    ended,
                    mferrors.UNAVAILABLE,
                )
        if workflow.patched(END_UPDATES_PATCH):
            retry = " (send it again: the new run can take it)" if ended == CONTINUED else ""
            for uid, rec in pending:
                rec.error = (
                    f"update {rec.name!r} (id {uid}) was not finished: workflow "
                    f"{info.workflow_id} {ended} before its handler answered{retry}; the "
                    "workflow code can wait with workflow.wait_handlers() before it returns"
                )
                rec.kind = mferrors.UNAVAILABLE
                rec.retryable = ended == CONTINUED
                rec.done = True
    # Every answered update's handler returns its answer before the run's own completion (no
    # command: only the order of the SDK's own tasks within this activation).
    updates = mailbox.updates
    if any(rec.done for rec in updates.values()):  # else return at once, as before
        await workflow.wait_condition(lambda: not any(rec.done for rec in updates.values()))
