// cli/scheduling.cpp — the `scheduling` setting: SCHED_BATCH or SCHED_OTHER for the calling
// thread, leaving real-time and idle policies alone.
#include "cli/scheduling.h"

#include <sched.h>

#include <cerrno>
#include <cstring>

namespace edgeca::cli {
namespace {

std::string policy_name(int policy) {
    switch (policy) {
        case SCHED_OTHER: return "normal";
        case SCHED_BATCH: return "batch";
        case SCHED_IDLE: return "idle";
        case SCHED_FIFO: return "fifo";
        case SCHED_RR: return "rr";
        default: return "other";
    }
}

}  // namespace

SchedulingOutcome apply_scheduling(std::optional<bool> batch) {
    SchedulingOutcome outcome;
    const int found = sched_getscheduler(0);
    if (found == -1) {
        outcome.in_force = "unknown";
        if (batch) outcome.warning = std::string("reading the scheduling policy: ") + std::strerror(errno);
        return outcome;
    }
    const int reset_on_fork = found & SCHED_RESET_ON_FORK;
    const int current = found & ~SCHED_RESET_ON_FORK;
    int in_force = current;
    if (batch && current != SCHED_OTHER && current != SCHED_BATCH) {
        outcome.warning = "the service was started with a real-time or idle policy, which stays";
    } else if (batch) {
        const int wanted = *batch ? SCHED_BATCH : SCHED_OTHER;
        sched_param priority{};
        if (current != wanted) {
            if (sched_setscheduler(0, wanted | reset_on_fork, &priority) == 0) {
                in_force = wanted;
            } else {
                outcome.warning = std::strerror(errno);
            }
        }
    }
    outcome.in_force = policy_name(in_force);
    return outcome;
}

}  // namespace edgeca::cli
