// ThreadSanitizer builds only (QUIVER_SANITIZE=thread): teaches TSan about
// absl::Mutex.
//
// Debian's Abseil is a shared library built without TSan, so TSan does not
// see the atomics inside absl::Mutex and reports every access guarded by one
// as a race. This file interposes the public absl::Mutex / absl::CondVar
// entry points (the executable's definitions win over the shared library's
// through the PLT), forwards each call to the real one (dlsym RTLD_NEXT) and
// adds the __tsan_mutex_* annotations an instrumented Abseil would make.
// Await / CondVar::Wait are annotated as write-mode releases and
// re-acquisitions (Quiver never waits holding a reader lock); an Await's
// condition is evaluated by Abseil with the mutex held, so the wait itself is
// annotated as a lock in progress, during which TSan ignores the thread's
// accesses (an instrumented Abseil annotates each evaluation). ~Mutex is not
// annotated: TSan drops a mutex's state when its memory is freed, and
// gRPC's thread pool destroys mutexes in ways TSan cannot order.
//
// Test-only code: tests/CMakeLists.txt compiles it (object library
// quiver_tsan_shim, TSan builds only) into every test executable and into the
// binaries the tests spawn (quiverd, quiver). Executables only, never a
// library. It also turns Abseil's mutex deadlock detection off (see below).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

template <typename F>
F Real(const char* symbol) {
  void* p = dlsym(RTLD_NEXT, symbol);
  if (p == nullptr) {
    std::fprintf(stderr, "tsan_absl_shim: %s not found: %s\n", symbol,
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(p);
}

// The mangled names carry Debian's inline namespace (absl::debian3).
#define QUIVER_ABSL_SYM(name) "_ZN4absl7debian3" name

// Some entry points call others through the PLT (WaitWithTimeout calls
// WaitWithDeadline, ...): only the outermost interposed call annotates.
thread_local int depth = 0;

class Outer {
 public:
  Outer() : outer_(depth++ == 0) {}
  ~Outer() { --depth; }
  Outer(const Outer&) = delete;
  Outer& operator=(const Outer&) = delete;
  bool outer() const { return outer_; }

 private:
  const bool outer_;
};

void PreLock(const Outer& o, void* m, unsigned flags) {
  if (o.outer()) __tsan_mutex_pre_lock(m, flags);
}
void PostLock(const Outer& o, void* m, unsigned flags) {
  if (o.outer()) __tsan_mutex_post_lock(m, flags, 0);
}
void PreUnlock(const Outer& o, void* m, unsigned flags) {
  if (o.outer()) __tsan_mutex_pre_unlock(m, flags);
}
void PostUnlock(const Outer& o, void* m, unsigned flags) {
  if (o.outer()) __tsan_mutex_post_unlock(m, flags);
}
void Release(const Outer& o, void* m, unsigned flags) {
  PreUnlock(o, m, flags);
  PostUnlock(o, m, flags);
}

// Abseil's deadlock detector keeps a global graph under an internal
// (unannotated) spin lock; TSan would flag it. Off in TSan builds.
[[maybe_unused]] const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real =
      Real<void (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex4LockEv"));
  const Outer o;
  PreLock(o, this, 0);
  real(this);
  PostLock(o, this, 0);
}

void Mutex::Unlock() {
  static const auto real =
      Real<void (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex6UnlockEv"));
  const Outer o;
  PreUnlock(o, this, 0);
  real(this);
  PostUnlock(o, this, 0);
}

bool Mutex::TryLock() {
  static const auto real =
      Real<bool (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex7TryLockEv"));
  const Outer o;
  PreLock(o, this, __tsan_mutex_try_lock);
  const bool ok = real(this);
  PostLock(o, this,
           __tsan_mutex_try_lock | (ok ? 0u : __tsan_mutex_try_lock_failed));
  return ok;
}

void Mutex::ReaderLock() {
  static const auto real =
      Real<void (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex10ReaderLockEv"));
  const Outer o;
  PreLock(o, this, __tsan_mutex_read_lock);
  real(this);
  PostLock(o, this, __tsan_mutex_read_lock);
}

void Mutex::ReaderUnlock() {
  static const auto real =
      Real<void (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex12ReaderUnlockEv"));
  const Outer o;
  PreUnlock(o, this, __tsan_mutex_read_lock);
  real(this);
  PostUnlock(o, this, __tsan_mutex_read_lock);
}

bool Mutex::ReaderTryLock() {
  static const auto real =
      Real<bool (*)(Mutex*)>(QUIVER_ABSL_SYM("5Mutex13ReaderTryLockEv"));
  const Outer o;
  const unsigned flags = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  PreLock(o, this, flags);
  const bool ok = real(this);
  PostLock(o, this, flags | (ok ? 0u : __tsan_mutex_try_lock_failed));
  return ok;
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      QUIVER_ABSL_SYM("5Mutex8LockWhenERKNS0_9ConditionE"));
  const Outer o;
  PreLock(o, this, 0);
  real(this, cond);
  PostLock(o, this, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      QUIVER_ABSL_SYM("5Mutex14ReaderLockWhenERKNS0_9ConditionE"));
  const Outer o;
  PreLock(o, this, __tsan_mutex_read_lock);
  real(this, cond);
  PostLock(o, this, __tsan_mutex_read_lock);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration t) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(QUIVER_ABSL_SYM(
          "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  const Outer o;
  PreLock(o, this, 0);
  const bool ok = real(this, cond, t);
  PostLock(o, this, 0);
  return ok;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time d) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Time)>(QUIVER_ABSL_SYM(
          "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  const Outer o;
  PreLock(o, this, 0);
  const bool ok = real(this, cond, d);
  PostLock(o, this, 0);
  return ok;
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      QUIVER_ABSL_SYM("5Mutex5AwaitERKNS0_9ConditionE"));
  const Outer o;
  Release(o, this, 0);
  PreLock(o, this, 0);
  real(this, cond);
  PostLock(o, this, 0);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration t) {
  static const auto real =
      Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(QUIVER_ABSL_SYM(
          "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  const Outer o;
  Release(o, this, 0);
  PreLock(o, this, 0);
  const bool ok = real(this, cond, t);
  PostLock(o, this, 0);
  return ok;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time d) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      QUIVER_ABSL_SYM("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  const Outer o;
  Release(o, this, 0);
  PreLock(o, this, 0);
  const bool ok = real(this, cond, d);
  PostLock(o, this, 0);
  return ok;
}

void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<void (*)(CondVar*, Mutex*)>(
      QUIVER_ABSL_SYM("7CondVar4WaitEPNS0_5MutexE"));
  const Outer o;
  Release(o, mu, 0);
  real(this, mu);
  PreLock(o, mu, 0);
  PostLock(o, mu, 0);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration t) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      QUIVER_ABSL_SYM("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"));
  const Outer o;
  Release(o, mu, 0);
  const bool ok = real(this, mu, t);
  PreLock(o, mu, 0);
  PostLock(o, mu, 0);
  return ok;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time d) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      QUIVER_ABSL_SYM("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"));
  const Outer o;
  Release(o, mu, 0);
  const bool ok = real(this, mu, d);
  PreLock(o, mu, 0);
  PostLock(o, mu, 0);
  return ok;
}

ABSL_NAMESPACE_END
}  // namespace absl
