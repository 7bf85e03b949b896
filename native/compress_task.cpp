// compress_task: the benchmark workload shared by the Work Queue and Ray paths.
//
// One run generates n float32 values from a seed, compresses them with zfp in
// fixed-accuracy mode, writes the compressed stream to a file and prints one
// JSON line of metrics on stdout. The same binary runs under both schedulers so
// that differences in wall time come from orchestration, not from the kernel.
//
// Exit status: 0 success, 1 runtime failure (allocation, compression, I/O),
// 2 bad command line (one line on stderr).

#include <zfp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr const char* kProg = "compress_task";
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: compress_task --n N --tolerance T [--seed S] [--verify] --out FILE\n"
    "  --n N          number of float32 values to generate (positive integer)\n"
    "  --tolerance T  zfp fixed-accuracy absolute error bound (positive number)\n"
    "  --seed S       PRNG seed, unsigned 64-bit integer (default 1)\n"
    "  --verify       decompress again and add max_abs_error and verify_s to the JSON line\n"
    "  --out FILE     where to write the compressed stream (zfp header + payload)\n";

struct Options {
  std::size_t n = 0;
  double tolerance = 0.0;
  std::uint64_t seed = 1;
  bool verify = false;
  std::string out;
};

// Thrown for command-line problems; main() prints it as one line and exits 2.
struct UsageError {
  std::string message;
};

std::uint64_t parse_unsigned(const std::string& flag, const std::string& text,
                             const char* what) {
  // Digits only: strtoull would silently accept "-1", " 5" or "5abc".
  bool ok = !text.empty() && text.size() <= 20;
  for (char c : text) ok = ok && c >= '0' && c <= '9';
  errno = 0;
  unsigned long long v = ok ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!ok || errno == ERANGE) {
    throw UsageError{flag + " expects " + what + ", got '" + text + "'"};
  }
  return static_cast<std::uint64_t>(v);
}

double parse_positive_double(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
  bool ok = !text.empty() && end && *end == '\0' && errno != ERANGE &&
            std::isfinite(v) && v > 0.0 &&
            !std::isspace(static_cast<unsigned char>(text[0]));
  if (!ok) {
    throw UsageError{flag + " expects a positive number, got '" + text + "'"};
  }
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_n = false, have_tol = false, have_out = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool inline_value = false;
    if (arg.rfind("--", 0) == 0) {
      std::size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
    }
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--verify") {
      if (inline_value) throw UsageError{"--verify takes no value"};
      o.verify = true;
      continue;
    }
    bool known = arg == "--n" || arg == "--tolerance" || arg == "--seed" || arg == "--out";
    if (!known) {
      if (arg.rfind("-", 0) == 0) throw UsageError{"unknown option '" + arg + "'"};
      throw UsageError{"unexpected argument '" + arg + "'"};
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
      value = argv[++i];
    }
    if (arg == "--n") {
      std::uint64_t n = parse_unsigned(arg, value, "a positive integer");
      // The buffer must fit in memory addressing; zfp takes size_t sizes.
      if (n == 0 || n > std::numeric_limits<std::size_t>::max() / sizeof(float)) {
        throw UsageError{"--n expects a positive integer, got '" + value + "'"};
      }
      o.n = static_cast<std::size_t>(n);
      have_n = true;
    } else if (arg == "--tolerance") {
      o.tolerance = parse_positive_double(arg, value);
      have_tol = true;
    } else if (arg == "--seed") {
      o.seed = parse_unsigned(arg, value, "an unsigned 64-bit integer");
    } else {
      if (value.empty()) throw UsageError{"--out expects a file name, got ''"};
      o.out = value;
      have_out = true;
    }
  }
  if (!have_n) throw UsageError{"missing required option --n"};
  if (!have_tol) throw UsageError{"missing required option --tolerance"};
  if (!have_out) throw UsageError{"missing required option --out"};
  return o;
}

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Uniform floats in [0, 1): the top 24 bits of each mt19937_64 draw, scaled
// exactly. Unlike std::uniform_real_distribution this is specified bit for bit,
// so a seed gives the same data with any standard library.
void generate(std::vector<float>& data, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  constexpr float kScale = 1.0f / 16777216.0f;  // 2^-24
  for (float& x : data) x = static_cast<float>(rng() >> 40) * kScale;
}

// Compresses data into out (resized to the stream size). Returns false on failure.
bool compress(const std::vector<float>& data, double tolerance, std::vector<unsigned char>& out) {
  zfp_field* field = zfp_field_1d(const_cast<float*>(data.data()), zfp_type_float, data.size());
  zfp_stream* zfp = zfp_stream_open(nullptr);
  zfp_stream_set_accuracy(zfp, tolerance);
  out.resize(zfp_stream_maximum_size(zfp, field));
  bitstream* stream = stream_open(out.data(), out.size());
  zfp_stream_set_bit_stream(zfp, stream);
  zfp_stream_rewind(zfp);
  // A full header makes the file self-describing (decodable without knowing
  // n or the tolerance); it is part of bytes_out.
  bool ok = zfp_write_header(zfp, field, ZFP_HEADER_FULL) != 0;
  std::size_t size = ok ? zfp_compress(zfp, field) : 0;
  ok = ok && size != 0;
  out.resize(ok ? size : 0);
  zfp_field_free(field);
  zfp_stream_close(zfp);
  stream_close(stream);
  return ok;
}

// Decodes the stream again and returns the largest absolute error, or NaN if
// the stream cannot be decoded.
double max_abs_error(const std::vector<unsigned char>& bytes, const std::vector<float>& original) {
  std::vector<unsigned char> copy(bytes);
  bitstream* stream = stream_open(copy.data(), copy.size());
  zfp_stream* zfp = zfp_stream_open(stream);
  zfp_field* field = zfp_field_alloc();
  double worst = std::numeric_limits<double>::quiet_NaN();
  if (zfp_read_header(zfp, field, ZFP_HEADER_FULL) &&
      zfp_field_type(field) == zfp_type_float && zfp_field_size(field, nullptr) == original.size()) {
    std::vector<float> decoded(original.size());
    zfp_field_set_pointer(field, decoded.data());
    if (zfp_decompress(zfp, field)) {
      worst = 0.0;
      for (std::size_t i = 0; i < decoded.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(decoded[i]) - original[i]));
      }
    }
  }
  zfp_field_free(field);
  zfp_stream_close(zfp);
  stream_close(stream);
  return worst;
}

int run(const Options& o) {
  const Clock::time_point t0 = Clock::now();

  // Open the output first so an unwritable path is a usage error reported
  // before any work is done.
  std::FILE* f = std::fopen(o.out.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "%s: cannot write --out '%s': %s\n", kProg, o.out.c_str(),
                 std::strerror(errno));
    return kExitUsage;
  }

  const Clock::time_point t_gen = Clock::now();
  std::vector<float> data(o.n);
  generate(data, o.seed);
  const Clock::time_point t_comp = Clock::now();

  std::vector<unsigned char> bytes;
  if (!compress(data, o.tolerance, bytes)) {
    std::fclose(f);
    std::fprintf(stderr, "%s: zfp compression failed\n", kProg);
    return kExitRuntime;
  }
  const Clock::time_point t_write = Clock::now();

  bool wrote = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  wrote = (std::fclose(f) == 0) && wrote;
  if (!wrote) {
    std::fprintf(stderr, "%s: writing '%s' failed: %s\n", kProg, o.out.c_str(),
                 std::strerror(errno));
    return kExitRuntime;
  }
  const Clock::time_point t_end = Clock::now();

  const unsigned long long bytes_in =
      static_cast<unsigned long long>(data.size()) * sizeof(float);
  std::printf(
      "{\"n\":%llu,\"tolerance\":%.17g,\"seed\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
      "\"generate_s\":%.9f,\"compress_s\":%.9f,\"write_s\":%.9f,\"total_s\":%.9f",
      static_cast<unsigned long long>(o.n), o.tolerance, static_cast<unsigned long long>(o.seed),
      bytes_in, static_cast<unsigned long long>(bytes.size()), seconds_between(t_gen, t_comp),
      seconds_between(t_comp, t_write), seconds_between(t_write, t_end),
      seconds_between(t0, t_end));
  if (o.verify) {
    const Clock::time_point v0 = Clock::now();
    double err = max_abs_error(bytes, data);
    const Clock::time_point v1 = Clock::now();
    if (std::isnan(err)) {
      std::printf("}\n");
      std::fprintf(stderr, "%s: verification could not decode the stream\n", kProg);
      return kExitRuntime;
    }
    std::printf(",\"max_abs_error\":%.9g,\"verify_s\":%.9f", err, seconds_between(v0, v1));
  }
  std::printf("}\n");
  if (std::fflush(stdout) != 0) return kExitRuntime;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", kProg, e.message.c_str());
    return kExitUsage;
  }
  try {
    return run(o);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory for --n %zu\n", kProg, o.n);
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return kExitRuntime;
  }
}
