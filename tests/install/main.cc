// Built against an installed Quiver (find_package(Quiver), Quiver::client);
// see CMakeLists.txt here and scripts/check-install.sh.
//
//   quiver_install_test            connects a client to a closed port and
//                                  expects ListCollections to fail with
//                                  UNAVAILABLE or DEADLINE_EXCEEDED
//   quiver_install_test HOST:PORT  lists the server's collections
//
// Exits 0 on the expected outcome, 1 otherwise.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "quiver/client/client.h"
#include "quiver/common/status.h"
#include "quiver/v1/quiver.pb.h"

namespace {

namespace qc = ::quiver::client;

absl::Status Run(int argc, char** argv) {
  const bool live = argc > 1;
  qc::ClientOptions options;
  // Port 1 (tcpmux) is closed on any machine that runs CI.
  options.address = live ? argv[1] : "127.0.0.1:1";
  options.timeout = absl::Seconds(live ? 30 : 2);
  QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<qc::QuiverClient> client,
                          qc::QuiverClient::Connect(options));

  // The generated API types work from the installed headers.
  quiver::v1::CreateCollectionRequest request;
  request.set_name("install-test");
  request.set_dimension(8);
  if (request.SerializeAsString().empty()) {
    return absl::InternalError("an empty serialized request");
  }

  absl::StatusOr<std::vector<quiver::v1::CollectionInfo>> collections =
      client->ListCollections();
  if (live) {
    if (!collections.ok()) return collections.status();
    std::printf("%zu collection(s)\n", collections->size());
    for (const quiver::v1::CollectionInfo& info : *collections) {
      std::printf("  %s (dimension %u, %llu vectors)\n", info.name().c_str(),
                  info.dimension(),
                  static_cast<unsigned long long>(info.count()));
    }
    return absl::OkStatus();
  }
  if (collections.ok()) {
    return absl::InternalError("ListCollections succeeded on a closed port");
  }
  if (!absl::IsUnavailable(collections.status()) &&
      !absl::IsDeadlineExceeded(collections.status())) {
    return absl::InternalError(
        "ListCollections on a closed port: expected UNAVAILABLE or "
        "DEADLINE_EXCEEDED, got " +
        collections.status().ToString());
  }
  std::printf("no server at %s, as expected: %s\n", options.address.c_str(),
              collections.status().ToString().c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("Quiver C++ client %s (installed package)\n",
              QUIVER_PACKAGE_VERSION);
  absl::Status status = Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "quiver_install_test: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  std::printf("quiver_install_test: OK\n");
  return 0;
}
