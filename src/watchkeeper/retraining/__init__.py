"""Retraining: when to retrain, on what data, and when a challenger replaces the champion.

- `config`: the `retraining:` section (`RetrainingConfig`)
- `decision`: history + `decide_retraining` → `RetrainDecision`, audited (`decide_and_audit`)
- `lease`: at most one retraining in flight per model (a row in the state database)
- `data`: the training set (`build_training_data`) and the evaluation rows (`load_evaluation_data`)
- `models`: fit with the configured trainer, measure quality as the monitoring report does
- `gate`: challenger against champion (`compare_models` → `DeployDecision`)
- `registry`: alias and tag names, the reference of a model version (`reference_source`)
- `launch`: Prefect deployment names and idempotency keys; `events`: audit-trail event names
- `lifecycle`: the notification of a promotion, rejection or rollback

`watchkeeper.config` imports `watchkeeper.retraining.config` (and so this file): the modules here
use the whole model config in annotations only, never at import time.
"""

from watchkeeper.retraining.config import (
    DEFAULT_TRAINER,
    RetrainingConfig,
)
from watchkeeper.retraining.data import (
    TrainingData,
    build_training_data,
    evaluation_windows,
    holdout_mask,
    labeled_rows,
    load_evaluation_data,
    split_windows,
)
from watchkeeper.retraining.decision import (
    RetrainDecision,
    RetrainHistory,
    WindowRecord,
    audit_decision,
    decide_and_audit,
    decide_retraining,
    read_history,
)
from watchkeeper.retraining.events import (
    EVENT_DECISION,
    EVENT_DEFERRED,
    EVENT_PROMOTED,
    EVENT_REJECTED,
    EVENT_RETRAIN_COMPLETED,
    EVENT_RETRAIN_FAILED,
    EVENT_RETRAIN_STARTED,
    EVENT_ROLLBACK,
)
from watchkeeper.retraining.gate import (
    DeployDecision,
    compare_models,
    resolve_primary_metric,
    summarize_gate,
)
from watchkeeper.retraining.launch import (
    deploy_deployment_name,
    deploy_key,
    retrain_deployment_name,
    retrain_key,
)
from watchkeeper.retraining.lease import (
    LEASE_NAMESPACE,
    Lease,
    acquire_lease,
    read_lease,
    release_lease,
)
from watchkeeper.retraining.lifecycle import (
    build_lifecycle_message,
)
from watchkeeper.retraining.models import (
    measure_quality,
    model_metrics,
    score_rows,
    train_model,
)
from watchkeeper.retraining.registry import (
    CHALLENGER_ALIAS,
    PREVIOUS_CHAMPION_ALIAS,
    TAG_DATA_END,
    TAG_DATA_START,
    TAG_DEPLOY_STATUS,
    TAG_HOLDOUT_URI,
    TAG_MONITOR_RUN,
    TAG_REFERENCE_URI,
    TAG_RETRAIN_RUN,
    TAG_TRAINING_WINDOWS,
    TAG_TRIGGER,
    TAG_TRIGGER_WINDOW_END,
    VERSION_PLACEHOLDER,
    challenger_tags,
    is_pending_challenger,
    read_time_list_tag,
    read_time_tag,
    reference_file_name,
    reference_location,
    reference_source,
)

__all__ = [
    "CHALLENGER_ALIAS",
    "DEFAULT_TRAINER",
    "EVENT_DECISION",
    "EVENT_DEFERRED",
    "EVENT_PROMOTED",
    "EVENT_REJECTED",
    "EVENT_RETRAIN_COMPLETED",
    "EVENT_RETRAIN_FAILED",
    "EVENT_RETRAIN_STARTED",
    "EVENT_ROLLBACK",
    "LEASE_NAMESPACE",
    "PREVIOUS_CHAMPION_ALIAS",
    "TAG_DATA_END",
    "TAG_DATA_START",
    "TAG_DEPLOY_STATUS",
    "TAG_HOLDOUT_URI",
    "TAG_MONITOR_RUN",
    "TAG_REFERENCE_URI",
    "TAG_RETRAIN_RUN",
    "TAG_TRAINING_WINDOWS",
    "TAG_TRIGGER",
    "TAG_TRIGGER_WINDOW_END",
    "VERSION_PLACEHOLDER",
    "DeployDecision",
    "Lease",
    "RetrainDecision",
    "RetrainHistory",
    "RetrainingConfig",
    "TrainingData",
    "WindowRecord",
    "acquire_lease",
    "audit_decision",
    "build_lifecycle_message",
    "build_training_data",
    "challenger_tags",
    "compare_models",
    "decide_and_audit",
    "decide_retraining",
    "deploy_deployment_name",
    "deploy_key",
    "evaluation_windows",
    "holdout_mask",
    "is_pending_challenger",
    "labeled_rows",
    "load_evaluation_data",
    "measure_quality",
    "model_metrics",
    "read_history",
    "read_lease",
    "read_time_list_tag",
    "read_time_tag",
    "reference_file_name",
    "reference_location",
    "reference_source",
    "release_lease",
    "resolve_primary_metric",
    "retrain_deployment_name",
    "retrain_key",
    "score_rows",
    "split_windows",
    "summarize_gate",
    "train_model",
]
