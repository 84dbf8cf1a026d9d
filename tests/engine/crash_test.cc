// SIGKILL at random points of a writer's life: 25 rounds spread over five
// phases, and after each kill the store opens again holding exactly what
// was acknowledged.
//
//   ingest       upserts of new ids mixed with updates (same id, a new
//                vector) and deletes;
//   train        a training requested with StartTraining (sampling,
//                encoding and persisting codes, the swap, the tuning) while
//                the writes go on;
//   maintenance  a collection with automatic index params growing past its
//                training triggers (the first training at 1,000 documents,
//                growth, drift of the new vectors):
//                the background (re)training the engine starts by itself
//                is killed;
//   backup       CollectionRegistry::Backup into fresh directories while the
//                writes go on;
//   split        a collection with automatic index params, trained on
//                kSplitFill documents spread over 8 clusters, then written
//                into one tight spot: the lists there outgrow the rest and
//                the engine splits them (a rebalance, not a full training;
//                any other training fails the round). The split, its
//                re-encoding and persisting, and the measurement of the
//                defaults after it are killed: one round in three at a
//                random delay after the split is seen, the others at a
//                step the engine names (CollectionOptions::
//                training_step_hook): after the split persisted the
//                entries it moved but before its quantizer record, and
//                right after the swap. This phase starts a fresh store
//                every round, trained the same way.
//
// The phase rotates with the round; the kill delay within the phase comes
// from a seeded RNG (QUIVER_CRASH_SEED overrides the seed: the same seed
// gives the same rounds, up to thread timing), and every check names the
// round, its phase, seed and delay. Each phase but split keeps its own store
// from one of its rounds to the next, so later rounds also kill writers of a
// store recovered from a kill (and the parent lets a training that the recovery
// resumed finish, then checks again).
//
// The writer is this test binary itself, started (fork + exec of
// /proc/self/exe, a gtest filter selecting the DISABLED_ child test, an
// environment variable naming its work) so that it is a fresh process: the
// parent has RocksDB's threads after the first round, and a forked copy of
// a multi-threaded process may not start threads (TSan refuses it).
//
// The child tells the parent what it does through a pipe, one line per
// event; the parent trusts a line only once its newline arrived:
//   U d<k>:<version> ...   an Upsert about to be called (intent)
//   D d<k> ...             a Delete about to be called (intent)
//   A                      the last intent returned OK (acknowledged)
//   S                      the phase's work starts (ingest, backup)
//   T <why>                a training runs (train, maintenance; split: "T
//                          <generation> <why>", the generation the split
//                          started from)
//   B <dir> <acks>         a backup into <dir> completed; it was started
//                          after <acks> acknowledgements
//   K <step>               the training reached `step`, where this round
//                          kills it (the child then waits)
//   E                      the child ran out of work (it then waits)
//   F <what>               the child saw something wrong (then exits)
// Calls are sequential, so at most one intent is unacknowledged at the kill:
// the reopened store must equal the acknowledged state, or that state with
// the whole pending call applied (one Upsert or Delete is one atomic write).
// A backup must equal the state after some number of calls not below its
// <acks>. The document d<k> of version v has a vector drawn from (k, v), so
// every vector read back tells which version it is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/engine/collection.h"
#include "server/engine/registry.h"
#include "tests/testing/testing.h"

extern char** environ;

namespace quiver::engine {
namespace {

constexpr char kChildEnv[] = "QUIVER_ENGINE_CRASH_CHILD";
constexpr char kChildTest[] = "CrashChild.DISABLED_WorkUntilKilled";
constexpr char kCollection[] = "c";

constexpr uint32_t kDim = 16;
constexpr int kRounds = 25;
constexpr uint64_t kDefaultSeed = 13;

enum Phase {
  kIngest = 0,
  kTrain = 1,
  kMaintenance = 2,
  kBackup = 3,
  kSplit = 4
};
constexpr int kPhases = 5;
constexpr const char* kPhaseNames[kPhases] = {"ingest", "train", "maintenance",
                                              "backup", "split"};
// Kill delays (ms) within each phase, counted from its "S" or "T" line.
constexpr std::array<std::pair<int, int>, kPhases> kDelayMs = {
    {{0, 300}, {0, 500}, {0, 400}, {0, 400}, {0, 60}}};
// Documents the train phase holds before it asks for a training, so that
// the training has some work.
constexpr uint64_t kTrainPhaseFill = 10000;
// The maintenance phase draws new ids from another set of clusters every
// kFamilyIds ids, so that the vectors written after a training quantize
// worse than those it saw (the drift trigger), besides the growth trigger.
constexpr uint64_t kFamilyIds = 1500;
constexpr uint64_t kClustersPerFamily = 8;
// Size at which a phase's store stops growing, so that the later rounds
// are not slower than the first ones. The maintenance phase grows past
// 9984 documents, then retrains on drift and deletes.
constexpr std::array<uint64_t, kPhases> kMaxDocuments = {6000, 14000, 11000,
                                                         6000, 7000};
// The split phase's documents below this id are spread over 8 clusters,
// and the collection is trained on them; the later ones crowd into one
// spot (the centre of the first cluster, noise kHotNoise).
constexpr uint64_t kSplitFill = 4000;
constexpr float kHotNoise = 0.25f;
// Calls one child makes at most before it waits to be killed.
constexpr int kMaxCalls = 4000;
constexpr int kMaxBackups = 6;

std::string DocId(uint64_t k) { return absl::StrCat("d", k); }

bool ParseDocId(absl::string_view id, uint64_t* k) {
  return absl::ConsumePrefix(&id, "d") && absl::SimpleAtoi(id, k);
}

// The vector of version `v` of document d<k> in `phase`'s store: a point
// of one of 8 clusters of a family, with unit noise. The maintenance phase
// takes a new family of clusters every kFamilyIds ids, the split phase's
// ids from kSplitFill on crowd into one spot, the others always use the
// same family.
std::vector<float> VectorOf(Phase phase, uint64_t k, uint32_t v) {
  std::mt19937_64 rng(k * 0x9E3779B97F4A7C15ull ^
                      (uint64_t{v} + 1) * 0xC2B2AE3D27D4EB4Full);
  const uint64_t family = phase == kMaintenance ? k / kFamilyIds : 0;
  const bool hot = phase == kSplit && k >= kSplitFill;
  std::mt19937_64 centre(family * kClustersPerFamily +
                         (hot ? 0 : rng() % kClustersPerFamily));
  std::normal_distribution<float> g;
  std::vector<float> x(kDim);
  for (float& c : x) c = 4 * g(centre);
  for (float& c : x) c += (hot ? kHotNoise : 1.0f) * g(rng);
  return x;
}

// The collection each phase creates: ingest and backup never train, train
// trains on request only, maintenance and split have automatic index
// params.
CollectionConfig PhaseCollection(Phase phase) {
  CollectionConfig cfg;
  cfg.name = kCollection;
  cfg.dimension = kDim;
  if (phase != kMaintenance && phase != kSplit) {
    cfg.index.auto_train_threshold = 1u << 30;
  }
  return cfg;
}

// The documents of a store: live ones with their version, deleted ones with
// the version they had.
struct Model {
  std::map<uint64_t, uint32_t> live;
  std::map<uint64_t, uint32_t> deleted;
  uint64_t next = 0;  // first id never used
};

// One Upsert (versions) or Delete (versions unused) call.
struct Call {
  bool del = false;
  std::vector<std::pair<uint64_t, uint32_t>> docs;
};

void Apply(const Call& call, Model* m) {
  for (const auto& [k, v] : call.docs) {
    if (call.del) {
      auto it = m->live.find(k);
      if (it == m->live.end()) continue;
      m->deleted[k] = it->second;
      m->live.erase(it);
    } else {
      m->live[k] = v;
      m->deleted.erase(k);
      m->next = std::max(m->next, k + 1);
    }
  }
}

// ---- The child ------------------------------------------------------------

// Writes whole lines to the pipe, from any thread.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void Line(std::string line) {
    line += '\n';
    std::lock_guard<std::mutex> lock(mu_);
    WriteAll(line);
  }
  void Ack() {
    std::lock_guard<std::mutex> lock(mu_);
    WriteAll("A\n");
    ++acks_;
  }
  uint64_t acks() {
    std::lock_guard<std::mutex> lock(mu_);
    return acks_;
  }
  [[noreturn]] void Fail(absl::string_view what) {
    Line(absl::StrCat("F ", what));
    _exit(3);
  }

 private:
  void WriteAll(absl::string_view s) {
    while (!s.empty()) {
      const ssize_t n = write(fd_, s.data(), s.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(5);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }

  const int fd_;
  std::mutex mu_;
  uint64_t acks_ = 0;
};

// The child's view of its store (what the parent wrote in the state file)
// and the calls it makes on it.
class Writer {
 public:
  Writer(Phase phase, uint64_t seed, Collection* c, Reporter* out)
      : phase_(phase), rng_(seed ^ 0x5bd1e995u), c_(c), out_(out) {}

  // Reads "next <n>" and "<k> <version>" lines.
  void Load(const std::string& path) {
    std::ifstream in(path);
    std::string word;
    uint64_t k = 0;
    uint32_t v = 0;
    if (!(in >> word >> next_) || word != "next") out_->Fail("bad state file");
    while (in >> k >> v) {
      pos_[k] = live_.size();
      live_.push_back({k, v});
    }
  }
  uint64_t size() const { return live_.size(); }

  // One Upsert of `n` documents, a share `update_pct` of them updates of
  // live ones.
  void Upsert(size_t n, int update_pct) {
    Call call;
    absl::flat_hash_set<uint64_t> taken;
    for (size_t i = 0; i < n; ++i) {
      if (!live_.empty() && static_cast<int>(rng_() % 100) < update_pct) {
        const auto& [k, v] = live_[rng_() % live_.size()];
        if (taken.insert(k).second) call.docs.push_back({k, v + 1});
      } else {
        call.docs.push_back({next_++, 0});
      }
    }
    std::vector<DocumentInput> docs;
    std::vector<std::string> words = {"U"};
    for (const auto& [k, v] : call.docs) {
      DocumentInput d;
      d.id = DocId(k);
      d.vector = VectorOf(phase_, k, v);
      words.push_back(absl::StrCat(d.id, ":", v));
      docs.push_back(std::move(d));
    }
    out_->Line(absl::StrJoin(words, " "));
    absl::StatusOr<uint64_t> r = c_->Upsert(std::move(docs));
    if (!r.ok()) out_->Fail(absl::StrCat("upsert: ", r.status().ToString()));
    out_->Ack();
    for (const auto& [k, v] : call.docs) {
      auto it = pos_.find(k);
      if (it != pos_.end()) {
        live_[it->second].second = v;
      } else {
        pos_[k] = live_.size();
        live_.push_back({k, v});
      }
    }
  }

  // One Delete of up to `n` live documents.
  void Delete(size_t n) {
    absl::flat_hash_set<uint64_t> picked;
    for (size_t i = 0; i < n && picked.size() < live_.size(); ++i) {
      picked.insert(live_[rng_() % live_.size()].first);
    }
    std::vector<std::string> ids;
    for (uint64_t k : picked) ids.push_back(DocId(k));
    out_->Line(absl::StrCat("D ", absl::StrJoin(ids, " ")));
    absl::StatusOr<uint64_t> r = c_->Delete(ids);
    if (!r.ok()) out_->Fail(absl::StrCat("delete: ", r.status().ToString()));
    if (*r != ids.size()) {
      out_->Fail(absl::StrFormat("delete of %d acknowledged ids found %d",
                                 ids.size(), *r));
    }
    out_->Ack();
    for (uint64_t k : picked) {
      const size_t at = pos_[k];
      pos_.erase(k);
      if (at + 1 != live_.size()) {
        live_[at] = live_.back();
        pos_[live_[at].first] = at;
      }
      live_.pop_back();
    }
  }

  // A random call: mostly upserts of 10-80 documents (30% of them updates),
  // a delete of 1-40 one time in three; once the phase's store is full,
  // deletes of 1-80 one time in two (it shrinks).
  void Random() {
    const bool full = live_.size() >= kMaxDocuments[phase_];
    if (live_.size() > 100 && rng_() % (full ? 2 : 3) == 0) {
      Delete(1 + rng_() % (full ? 80 : 40));
    } else {
      Upsert(10 + rng_() % 71, 30);
    }
  }

 private:
  const Phase phase_;
  std::mt19937_64 rng_;
  Collection* const c_;
  Reporter* const out_;
  std::vector<std::pair<uint64_t, uint32_t>> live_;  // (k, version)
  absl::flat_hash_map<uint64_t, size_t> pos_;        // k -> index in live_
  uint64_t next_ = 0;
};

struct ChildArgs {
  std::string store;
  int fd = -1;
  Phase phase = kIngest;
  uint64_t seed = 0;
  std::string state;          // the parent's Model of the store
  std::string backup_prefix;  // backup directories: <prefix><i>
};

// The step of a split phase round's kill ("" for a random delay).
const char* SplitKillStep(uint64_t seed) {
  constexpr const char* kSteps[] = {"", "rebalance entries persisted",
                                    "swapped"};
  const uint64_t round = seed % 1000;
  return kSteps[(round / kPhases) % 3];
}

void Child(const ChildArgs& a) {
  Reporter out(a.fd);
  RegistryOptions ro;
  ro.store.path = a.store;
  ro.collection.train_threads = 1;
  // Armed once the split phase's collection is trained: the next training
  // must be the split.
  std::atomic<bool> armed{false};
  const std::string kill_step = a.phase == kSplit ? SplitKillStep(a.seed) : "";
  if (!kill_step.empty()) {
    ro.collection.training_step_hook = [&](const char* step) {
      if (!armed.load() || kill_step != step) return;
      out.Line(absl::StrCat("K ", step));
      for (;;) ::pause();
    };
  }
  auto registry = CollectionRegistry::Open(ro);
  if (!registry.ok()) out.Fail(registry.status().ToString());
  auto c = (*registry)->Get(kCollection);
  if (!c.ok()) c = (*registry)->Create(PhaseCollection(a.phase));
  if (!c.ok()) out.Fail(c.status().ToString());
  Writer w(a.phase, a.seed, c->get(), &out);
  w.Load(a.state);
  if (w.size() != (*c)->count()) {
    out.Fail(absl::StrFormat("the store holds %d documents, %d acknowledged",
                             (*c)->count(), w.size()));
  }
  std::thread backups;
  switch (a.phase) {
    case kIngest:
      out.Line("S");
      break;
    case kTrain: {
      while (w.size() < kTrainPhaseFill) w.Upsert(500, 0);
      IndexConfig o;
      o.nlist = 16u << (a.seed % 3);
      if (absl::Status s = (*c)->StartTraining(o); !s.ok()) {
        out.Fail(absl::StrCat("StartTraining: ", s.ToString()));
      }
      out.Line(absl::StrCat("T requested nlist ", o.nlist));
      break;
    }
    case kMaintenance:
      break;  // "T" when a training is seen
    case kSplit: {
      // Trained on exactly the spread-out documents: the lists' settled
      // sizes are theirs, and the collection may double before growth
      // retrains it.
      while (w.size() < kSplitFill) w.Upsert(500, 0);
      (*c)->WaitForTraining();
      if (absl::Status s = (*c)->StartTraining(std::nullopt); !s.ok()) {
        out.Fail(absl::StrCat("StartTraining: ", s.ToString()));
      }
      (*c)->WaitForTraining();
      armed.store(true);
      break;  // "T" when the split is seen
    }
    case kBackup:
      out.Line("S");
      backups = std::thread([&] {
        std::mt19937_64 rng(a.seed);
        for (int i = 0; i < kMaxBackups; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
          const std::string dir = absl::StrCat(a.backup_prefix, i);
          const uint64_t acks = out.acks();
          if (absl::Status s = (*registry)->Backup(dir); !s.ok()) {
            out.Fail(absl::StrCat("backup: ", s.ToString()));
          }
          out.Line(absl::StrCat("B ", dir, " ", acks));
        }
      });
      break;
  }
  bool training_seen = false;
  const uint64_t generation = (*c)->Status().train_generation;
  for (int i = 0; i < kMaxCalls; ++i) {
    if (a.phase == kMaintenance && !training_seen) {
      const CollectionStatus st = (*c)->Status();
      if (st.state == TrainState::kTraining) {
        training_seen = true;
        out.Line(absl::StrCat("T ", st.last_training_reason));
      }
    }
    if (a.phase == kSplit && !training_seen) {
      // Seen running, or (when it ran between two calls) done.
      const CollectionStatus st = (*c)->Status();
      if (st.state == TrainState::kTraining ||
          st.train_generation != generation) {
        training_seen = true;
        if (!absl::StrContains(st.last_training_reason, "grew past")) {
          out.Fail(absl::StrCat("a training instead of a split: ",
                                st.last_training_reason));
        }
        out.Line(absl::StrCat(
            "T ", generation, " ", st.last_training_reason,
            st.state == TrainState::kTraining ? "" : " (seen after it ended)"));
      }
    }
    w.Random();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (backups.joinable()) backups.join();
  out.Line("E");
  for (;;) ::pause();
}

// Runs only when started by the crash test below.
TEST(CrashChild, DISABLED_WorkUntilKilled) {
  const char* env = std::getenv(kChildEnv);
  if (env == nullptr) GTEST_SKIP() << "started by CrashTest only";
  const std::vector<std::string> parts = absl::StrSplit(env, '|');
  ASSERT_EQ(parts.size(), 6u) << env;
  ChildArgs a;
  int phase = 0;
  a.store = parts[0];
  ASSERT_TRUE(absl::SimpleAtoi(parts[1], &a.fd)) << env;
  ASSERT_TRUE(absl::SimpleAtoi(parts[2], &phase)) << env;
  ASSERT_TRUE(absl::SimpleAtoi(parts[3], &a.seed)) << env;
  a.phase = static_cast<Phase>(phase);
  a.state = parts[4];
  a.backup_prefix = parts[5];
  Child(a);
}

// ---- The parent -----------------------------------------------------------

// Starts the child, which writes its lines to `fd`.
pid_t StartChild(const ChildArgs& a) {
  const std::string filter = absl::StrCat("--gtest_filter=", kChildTest);
  std::vector<std::string> args = {"/proc/self/exe", filter,
                                   "--gtest_also_run_disabled_tests"};
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("GTEST_")) continue;  // no sharding
    env_strings.emplace_back(*e);
  }
  env_strings.push_back(absl::StrCat(kChildEnv, "=", a.store, "|", a.fd, "|",
                                     static_cast<int>(a.phase), "|", a.seed,
                                     "|", a.state, "|", a.backup_prefix));
  std::vector<char*> argv, envp;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {
    if (dev_null >= 0) dup2(dev_null, STDOUT_FILENO);  // gtest's chatter
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (dev_null >= 0) close(dev_null);
  return pid;
}

void WriteState(const Model& m, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  out << "next " << m.next << "\n";
  for (const auto& [k, v] : m.live) out << k << " " << v << "\n";
}

// What one child reported.
struct Report {
  std::vector<Call> calls;  // every complete intent, in order
  uint64_t acks = 0;
  std::vector<std::pair<std::string, uint64_t>> backups;  // (dir, acks)
  std::vector<std::string> failures;                      // "F" lines
  bool trigger = false;                                   // "S" or "T" seen
  bool ended = false;                                     // "E" seen
  std::string killed_at;                                  // "K" line
  std::string training;                                   // "T" line
};

// Feeds one complete line into `r`. False for a line that makes no sense.
bool ParseLine(absl::string_view line, Report* r) {
  if (line.empty()) return false;
  const char kind = line[0];
  std::vector<absl::string_view> words =
      absl::StrSplit(line, ' ', absl::SkipEmpty());
  switch (kind) {
    case 'U':
    case 'D': {
      Call call;
      call.del = kind == 'D';
      for (size_t i = 1; i < words.size(); ++i) {
        std::pair<absl::string_view, absl::string_view> kv =
            absl::StrSplit(words[i], absl::MaxSplits(':', 1));
        uint64_t k = 0;
        uint32_t v = 0;
        if (!ParseDocId(kv.first, &k)) return false;
        if (!call.del && !absl::SimpleAtoi(kv.second, &v)) return false;
        call.docs.push_back({k, v});
      }
      r->calls.push_back(std::move(call));
      return true;
    }
    case 'A':
      ++r->acks;
      return r->acks <= r->calls.size();
    case 'S':
      r->trigger = true;
      return true;
    case 'T':
      r->trigger = true;
      if (r->training.empty()) r->training = std::string(line.substr(1));
      return true;
    case 'B': {
      uint64_t acks = 0;
      if (words.size() != 3 || !absl::SimpleAtoi(words[2], &acks)) return false;
      r->backups.push_back({std::string(words[1]), acks});
      return true;
    }
    case 'K':
      r->killed_at = std::string(line.substr(2));
      return !r->killed_at.empty();
    case 'E':
      r->ended = true;
      return true;
    case 'F':
      r->failures.emplace_back(line);
      return true;
  }
  return false;
}

// Reads the child's lines from `fd` into a Report. Only newline-terminated
// lines count: a line cut by the kill stays unparsed.
class LineReader {
 public:
  LineReader(int fd, Report* r) : fd_(fd), r_(r) {}
  // Reads what arrives within `timeout_ms`: 1 if something did, 0 if
  // nothing did, -1 at EOF.
  int Poll(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    char buf[1 << 16];
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return -1;
    pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      const absl::string_view line(&pending_[start], nl - start);
      if (!ParseLine(line, r_)) bad_.emplace_back(line.substr(0, 200));
    }
    pending_.erase(0, start);
    return 1;
  }
  const std::vector<std::string>& bad() const { return bad_; }

 private:
  const int fd_;
  Report* const r_;
  std::string pending_;
  std::vector<std::string> bad_;
};

// Every id named in `base` or `calls`, with each version it may hold.
std::map<uint64_t, std::set<uint32_t>> Versions(
    const Model& base, const std::vector<Call>& calls) {
  std::map<uint64_t, std::set<uint32_t>> out;
  for (const auto& [k, v] : base.live) out[k].insert(v);
  for (const auto& [k, v] : base.deleted) out[k].insert(v);
  for (const Call& call : calls) {
    for (const auto& [k, v] : call.docs) {
      std::set<uint32_t>& s = out[k];
      if (!call.del) s.insert(v);
    }
  }
  return out;
}

// What a store holds: the version of every document found, and its count.
struct Observed {
  std::map<uint64_t, uint32_t> live;
  uint64_t count = 0;
};

// Reads every id of `versions` back from `c` (with vectors) and names the
// version of each. Failures name what is wrong.
Observed Observe(Phase phase, const Collection& c,
                 const std::map<uint64_t, std::set<uint32_t>>& versions) {
  Observed obs;
  obs.count = c.count();
  std::vector<std::string> ids;
  for (const auto& [k, unused] : versions) ids.push_back(DocId(k));
  for (size_t off = 0; off < ids.size(); off += kMaxIdsPerRequest) {
    const size_t n = std::min(kMaxIdsPerRequest, ids.size() - off);
    auto got = c.Get(absl::MakeConstSpan(ids).subspan(off, n), true);
    QUIVER_EXPECT_OK(got);
    if (!got.ok()) return obs;
    for (const StoredDocument& d : *got) {
      uint64_t k = 0;
      if (!ParseDocId(d.id, &k) || !versions.contains(k)) {
        ADD_FAILURE() << "Get returned unrequested id " << d.id;
        continue;
      }
      bool known = false;
      for (uint32_t v : versions.at(k)) {
        if (d.vector == VectorOf(phase, k, v)) {
          obs.live[k] = v;
          known = true;
          break;
        }
      }
      EXPECT_TRUE(known) << d.id << " holds a vector of no version written";
    }
  }
  return obs;
}

// "" if `obs` is exactly `m`, else the first differences.
std::string Diff(const Observed& obs, const Model& m) {
  std::vector<std::string> out;
  if (obs.count != m.live.size()) {
    out.push_back(
        absl::StrFormat("count %d, expected %d", obs.count, m.live.size()));
  }
  for (const auto& [k, v] : m.live) {
    if (out.size() >= 6) break;
    auto it = obs.live.find(k);
    if (it == obs.live.end()) {
      out.push_back(absl::StrFormat("d%d (version %d) missing", k, v));
    } else if (it->second != v) {
      out.push_back(
          absl::StrFormat("d%d has version %d, expected %d", k, it->second, v));
    }
  }
  for (const auto& [k, v] : obs.live) {
    if (out.size() >= 6) break;
    if (m.live.contains(k)) continue;
    out.push_back(
        absl::StrFormat("d%d present (version %d) but %s", k, v,
                        m.deleted.contains(k) ? "deleted" : "never written"));
  }
  return absl::StrJoin(out, "; ");
}

// Finds the state among base + calls[0, t) for t in [first, last] that the
// store `c` holds; sets *t. Returns "" or what differs from the state at
// `first`.
std::string MatchState(Phase phase, const Collection& c, const Model& base,
                       const std::vector<Call>& calls, size_t first,
                       size_t last, size_t* t) {
  const Observed obs = Observe(phase, c, Versions(base, calls));
  Model m = base;
  std::string first_diff;
  for (size_t i = 0; i <= last && i <= calls.size(); ++i) {
    if (i >= first) {
      const std::string diff = Diff(obs, m);
      if (diff.empty()) {
        *t = i;
        return "";
      }
      if (i == first) first_diff = diff;
    }
    if (i < calls.size()) Apply(calls[i], &m);
  }
  return first_diff.empty() ? "no state to compare" : first_diff;
}

// Deleted documents stay out of exact searches for their old vector; every
// hit is a live document.
void CheckDeletedUnsearchable(Phase phase, const Collection& c,
                              const Model& m) {
  std::vector<float> q;
  std::vector<uint64_t> ks;
  // The most recently used ids first (the deletes of this round).
  for (auto it = m.deleted.rbegin(); it != m.deleted.rend() && ks.size() < 512;
       ++it) {
    const std::vector<float> x = VectorOf(phase, it->first, it->second);
    q.insert(q.end(), x.begin(), x.end());
    ks.push_back(it->first);
  }
  if (ks.empty()) return;
  SearchQuery sq;
  sq.queries = q.data();
  sq.nq = ks.size();
  sq.k = 3;
  sq.exact = true;
  auto hits = c.Search(sq);
  QUIVER_ASSERT_OK(hits);
  ASSERT_EQ(hits->size(), ks.size());
  for (size_t i = 0; i < ks.size(); ++i) {
    for (const SearchHit& h : (*hits)[i]) {
      uint64_t k = 0;
      EXPECT_TRUE(ParseDocId(h.id, &k) && m.live.contains(k))
          << "exact search for the vector of deleted d" << ks[i] << " returned "
          << h.id << " (not live)";
    }
  }
}

// Approximate searches at the defaults return k live hits; probing every
// list finds each queried document itself (it is in the index).
void CheckSearchable(Phase phase, const Collection& c, const Model& m,
                     uint64_t seed) {
  if (m.live.empty()) return;
  std::vector<uint64_t> all;
  for (const auto& [k, v] : m.live) all.push_back(k);
  std::mt19937_64 rng(seed);
  std::vector<float> q;
  std::vector<uint64_t> ks;
  for (int i = 0; i < 32; ++i) {
    const uint64_t k = all[rng() % all.size()];
    const std::vector<float> x = VectorOf(phase, k, m.live.at(k));
    q.insert(q.end(), x.begin(), x.end());
    ks.push_back(k);
  }
  SearchQuery sq;
  sq.queries = q.data();
  sq.nq = ks.size();
  sq.k = 10;
  auto hits = c.Search(sq);
  QUIVER_ASSERT_OK(hits);
  ASSERT_EQ(hits->size(), ks.size());
  const size_t want = std::min<size_t>(10, m.live.size());
  for (size_t i = 0; i < ks.size(); ++i) {
    const std::vector<SearchHit>& h = (*hits)[i];
    EXPECT_EQ(h.size(), want) << "query d" << ks[i];
    for (const SearchHit& hit : h) {
      uint64_t k = 0;
      EXPECT_TRUE(ParseDocId(hit.id, &k) && m.live.contains(k))
          << "search returned " << hit.id << " (not live)";
    }
  }
  // Every document is in the index: probing every list, with the largest
  // re-rank, finds it at distance 0 (up to the half-precision rounding of the
  // stored vector: 1e-5 of its squared norm, where any other version of the
  // document lies at about twice that norm).
  sq.nprobe = kMaxNlist;
  sq.rerank = kMaxRerank;
  hits = c.Search(sq);
  QUIVER_ASSERT_OK(hits);
  for (size_t i = 0; i < ks.size(); ++i) {
    const std::vector<SearchHit>& h = (*hits)[i];
    const size_t dim = q.size() / ks.size();
    float norm = 0;
    for (size_t j = 0; j < dim; ++j) norm += q[i * dim + j] * q[i * dim + j];
    EXPECT_TRUE(!h.empty() && h[0].id == DocId(ks[i]) &&
                h[0].distance <= 1e-5f * norm)
        << "d" << ks[i] << " not found by its own vector (nprobe " << c.nlist()
        << ")";
  }
}

uint64_t BaseSeed() {
  uint64_t seed = kDefaultSeed;
  if (const char* env = std::getenv("QUIVER_CRASH_SEED"); env != nullptr) {
    EXPECT_TRUE(absl::SimpleAtoi(env, &seed)) << "QUIVER_CRASH_SEED=" << env;
  }
  return seed;
}

TEST(CrashTest, SigkillAtRandomPointsKeepsExactlyTheAcknowledgedDocuments) {
  testing::TempDir dir;
  std::array<Model, kPhases> models;
  const uint64_t base_seed = BaseSeed();
  for (int round = 0; round < kRounds; ++round) {
    const Phase phase = static_cast<Phase>(round % kPhases);
    const uint64_t seed = base_seed * 1000 + round;
    std::mt19937_64 rng(seed);
    const int delay_ms = std::uniform_int_distribution<int>(
        kDelayMs[phase].first, kDelayMs[phase].second)(rng);
    const char* trigger = phase == kIngest || phase == kBackup ? "S" : "T";
    const std::string step = phase == kSplit ? SplitKillStep(seed) : "";
    if (phase == kSplit) models[phase] = Model();  // a fresh store
    const std::string when =
        step.empty() ? absl::StrFormat("%d ms after \"%s\"", delay_ms, trigger)
                     : absl::StrCat("at \"", step, "\"");
    SCOPED_TRACE(absl::StrFormat(
        "round %d: phase %s, seed %d (QUIVER_CRASH_SEED=%d), kill %s", round,
        kPhaseNames[phase], seed, base_seed, when));
    Model& model = models[phase];
    const Model start = model;

    ChildArgs a;
    a.store = phase == kSplit
                  ? dir.Sub(absl::StrCat("store-split-r", round))
                  : dir.Sub(absl::StrCat("store-", kPhaseNames[phase]));
    a.phase = phase;
    a.seed = seed;
    a.state = dir.Sub(absl::StrCat("state-", kPhaseNames[phase]));
    a.backup_prefix = dir.Sub(absl::StrCat("backup-r", round, "-"));
    WriteState(model, a.state);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    a.fd = fds[1];
    const pid_t pid = StartChild(a);
    ASSERT_GE(pid, 0);
    close(fds[1]);

    // Read until the kill point, then kill and read what is left.
    Report report;
    LineReader reader(fds[0], &report);
    using Clock = std::chrono::steady_clock;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(60);
    std::optional<Clock::time_point> kill_at;
    bool eof = false;
    while (!eof) {
      if (!kill_at.has_value() && report.trigger && step.empty()) {
        kill_at = Clock::now() + std::chrono::milliseconds(delay_ms);
      }
      const Clock::time_point now = Clock::now();
      // A training stopped at the kill step stays TRAINING: the writer
      // reports it ("T") on its next call, possibly after "K".
      if ((kill_at.has_value() && now >= *kill_at) || now >= give_up ||
          (!report.killed_at.empty() && report.trigger) || report.ended ||
          !report.failures.empty()) {
        break;
      }
      const Clock::time_point until =
          kill_at.has_value() ? std::min(*kill_at, give_up) : give_up;
      const int wait_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now)
              .count());
      eof = reader.Poll(std::clamp(wait_ms, 1, 100)) < 0;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    while (reader.Poll(1000) > 0) {
    }
    close(fds[0]);
    EXPECT_TRUE(report.failures.empty())
        << "child: " << absl::StrJoin(report.failures, "\n");
    EXPECT_TRUE(reader.bad().empty())
        << "malformed lines: " << absl::StrJoin(reader.bad(), "\n");
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
    EXPECT_TRUE(report.trigger)
        << "the child never reached \"" << trigger << "\"";
    EXPECT_FALSE(report.ended) << "the child ran out of work before the kill";
    EXPECT_EQ(report.killed_at, step) << "the training never reached the step";

    // The store holds the acknowledged state, or that state with the one
    // pending call applied.
    {
      RegistryOptions ro;
      ro.store.path = a.store;
      ro.collection.train_threads = 1;
      auto registry = CollectionRegistry::Open(ro);
      QUIVER_ASSERT_OK(registry);
      auto c = (*registry)->Get(kCollection);
      if (!c.ok() && report.acks == 0 && model.live.empty()) continue;
      QUIVER_ASSERT_OK(c);
      size_t t = 0;
      const std::string diff = MatchState(phase, **c, model, report.calls,
                                          report.acks, report.acks + 1, &t);
      ASSERT_EQ(diff, "") << "after " << report.acks
                          << " acknowledged calls of " << report.calls.size()
                          << ", the reopened store differs";
      for (size_t i = 0; i < t; ++i) Apply(report.calls[i], &model);
      // A split killed before its quantizer record landed reopens at the
      // generation it started from (its entries re-encoded on open).
      std::string reopened;
      if (phase == kSplit) {
        const uint64_t g = (*c)->Status().train_generation;
        reopened = absl::StrFormat(", reopened at generation %d", g);
        uint64_t from = 0;
        const std::vector<std::string> words =
            absl::StrSplit(report.training, ' ', absl::SkipEmpty());
        EXPECT_TRUE(!words.empty() && absl::SimpleAtoi(words[0], &from))
            << report.training;
        if (step == "rebalance entries persisted") {
          EXPECT_EQ(g, from) << "the split's quantizer record was not written";
        } else if (step == "swapped") {
          EXPECT_GT(g, from) << "the split's quantizer record was written";
        }
      }
      std::cerr << absl::StrFormat(
          "round %d (%s, killed %s%s%s): %d calls, %d "
          "acknowledged, the store holds %d (%d documents), %d backups%s\n",
          round, kPhaseNames[phase], when, report.training.empty() ? "" : "; T",
          report.training, report.calls.size(), report.acks, t,
          model.live.size(), report.backups.size(), reopened);
      CheckDeletedUnsearchable(phase, **c, model);
      CheckSearchable(phase, **c, model, seed);
      // A training the reopened collection resumed completes (so that the
      // next round of the phase starts from a maintained index), and the
      // new index holds the same documents.
      const uint64_t generation = (*c)->Status().train_generation;
      (*c)->WaitForTraining();
      const CollectionStatus st = (*c)->Status();
      if (st.train_generation != generation) {
        EXPECT_EQ(st.last_error, "");
        EXPECT_EQ(st.count, model.live.size());
        CheckSearchable(phase, **c, model, seed + 1);
      }
    }

    // Each completed backup holds the state after some call not before
    // the backup started.
    for (const auto& [backup_dir, acks] : report.backups) {
      SCOPED_TRACE(absl::StrCat("backup ", backup_dir, " started after ", acks,
                                " acknowledged calls"));
      RegistryOptions ro;
      ro.store.path = backup_dir;
      ro.collection.train_threads = 1;
      auto registry = CollectionRegistry::Open(ro);
      QUIVER_ASSERT_OK(registry);
      auto c = (*registry)->Get(kCollection);
      QUIVER_ASSERT_OK(c);
      size_t t = 0;
      const std::string diff = MatchState(phase, **c, start, report.calls, acks,
                                          report.calls.size(), &t);
      EXPECT_EQ(diff, "") << "the backup differs from every state after "
                          << acks << " acknowledged calls";
    }
  }
}

}  // namespace
}  // namespace quiver::engine
