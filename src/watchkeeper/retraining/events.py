"""The audit-trail events the retraining loop writes (`watchkeeper audit` shows them).

Their values are stored in the state database and read back (`read_history` counts completed
retrainings), so they never change.
"""

from __future__ import annotations

EVENT_DECISION = "retraining.decision"
EVENT_RETRAIN_STARTED = "retraining.started"
EVENT_RETRAIN_COMPLETED = "retraining.completed"
EVENT_RETRAIN_FAILED = "retraining.failed"
EVENT_PROMOTED = "deploy.promoted"
EVENT_REJECTED = "deploy.rejected"
EVENT_DEFERRED = "deploy.deferred"
EVENT_ROLLBACK = "deploy.rollback"
