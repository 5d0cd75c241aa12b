// cli/scheduling.h — the `scheduling` setting of edgeca serve: the Linux scheduling policy of
// the calling thread, and so of every thread it starts afterwards (threads inherit it).
#pragma once

#include <optional>
#include <string>

namespace edgeca::cli {

struct SchedulingOutcome {
    std::string in_force;                // "normal", "batch", "idle", "fifo", "rr" or "other"
    std::optional<std::string> warning;  // why the setting was not applied
};

// `batch`: true for SCHED_BATCH, false for SCHED_OTHER, unset to keep the policy the thread has.
// A real-time or idle policy (chrt) is the operator's choice and stays, with a warning if a
// policy was asked for; the reset-on-fork flag (chrt -R, systemd's CPUSchedulingResetOnFork=)
// is kept as it is.
SchedulingOutcome apply_scheduling(std::optional<bool> batch);

}  // namespace edgeca::cli
