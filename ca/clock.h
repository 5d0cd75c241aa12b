// ca/clock.h — where the engine gets the time, so that tests can stand at any instant.
#pragma once

#include <chrono>

namespace edgeca::ca {

using Time = std::chrono::sys_seconds;

class Clock {
public:
    virtual ~Clock() = default;
    virtual Time now() const = 0;
};

class SystemClock final : public Clock {
public:
    Time now() const override {
        return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    }
};

// A clock that stands still until moved; for tests.
class FixedClock final : public Clock {
public:
    explicit FixedClock(Time t) : now_(t) {}
    Time now() const override { return now_; }
    void set(Time t) { now_ = t; }
    void advance(std::chrono::seconds d) { now_ += d; }

private:
    Time now_;
};

}  // namespace edgeca::ca
