// TFRecord framing (length, masked CRC-32C of the length, data, masked CRC-32C of the data)
// around protobuf-lite Event messages (models/tensorboard_event.proto).
#include "neurona/models/summary_writer.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "neurona/autograd/ops.h"
#include "neurona/core/error.h"
#include "neurona/data/image_io.h"
#include "neurona/models/tensorboard_event.pb.h"

namespace neurona::tensorboard {

namespace {

using neurona::detail::str;

// The reflected table of the Castagnoli polynomial (0x82F63B78), made once.
const std::array<std::uint32_t, 256>& crc_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string le_bytes(std::uint64_t v, int n) {
  std::string out(static_cast<std::size_t>(n), '\0');
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return out;
}

std::uint64_t from_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  const auto& table = crc_table();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::uint32_t masked_crc32c(std::string_view bytes) {
  const std::uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

SummaryWriter::SummaryWriter(const std::string& log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  NEURONA_CHECK(!ec, IoError, "SummaryWriter: cannot create the folder ", log_dir, ": ",
                ec.message());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  static std::atomic<int> counter{0};
  const auto seconds = static_cast<long long>(now_seconds());
  path_ = (std::filesystem::path(log_dir) /
           str("events.out.tfevents.", seconds, ".", host, ".", ::getpid(), ".", counter++, ".v2"))
              .string();
  out_.open(path_, std::ios::binary | std::ios::trunc);
  NEURONA_CHECK(out_.good(), IoError, "SummaryWriter: cannot create ", path_);
  Event first;
  first.set_wall_time(now_seconds());
  first.set_file_version("brain.Event:2");
  write_record(first.SerializeAsString());
  flush();
}

SummaryWriter::~SummaryWriter() {
  out_.flush();  // errors cannot be reported from a destructor; flush() reports them
}

void SummaryWriter::write_record(const std::string& data) {
  const std::string length = le_bytes(data.size(), 8);
  out_ << length << le_bytes(masked_crc32c(length), 4) << data << le_bytes(masked_crc32c(data), 4);
  NEURONA_CHECK(out_.good(), IoError, "SummaryWriter: cannot write ", path_);
}

void SummaryWriter::flush() {
  out_.flush();
  NEURONA_CHECK(out_.good(), IoError, "SummaryWriter: cannot write ", path_);
}

void SummaryWriter::scalar(const std::string& tag, double value, std::int64_t step) {
  Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  Summary::Value* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(e.SerializeAsString());
}

void SummaryWriter::histogram(const std::string& tag, const Tensor& values, std::int64_t step,
                              int buckets) {
  NEURONA_CHECK(buckets > 0, ValueError,
                "SummaryWriter.histogram: argument `buckets` must be > 0, ", "got ", buckets);
  NEURONA_CHECK(values.defined() && values.numel() > 0, ValueError, "SummaryWriter.histogram: '",
                tag, "' has no values");
  const std::vector<double> data = values.to_vector<double>();
  HistogramProto h;
  double lo = data[0], hi = data[0], sum = 0, sum_squares = 0;
  for (double x : data) {
    NEURONA_CHECK(std::isfinite(x), ValueError, "SummaryWriter.histogram: '", tag,
                  "' holds a non-finite value (", x, ")");
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum += x;
    sum_squares += x * x;
  }
  h.set_min(lo);
  h.set_max(hi);
  h.set_num(static_cast<double>(data.size()));
  h.set_sum(sum);
  h.set_sum_squares(sum_squares);
  const int k = hi > lo ? buckets : 1;
  std::vector<double> counts(static_cast<std::size_t>(k), 0.0);
  const double width = (hi - lo) / k;
  for (double x : data) {
    int i = width > 0 ? static_cast<int>((x - lo) / width) : 0;
    counts[static_cast<std::size_t>(std::clamp(i, 0, k - 1))] += 1;
  }
  for (int i = 0; i < k; ++i) {
    h.add_bucket_limit(i == k - 1 ? hi : lo + width * (i + 1));
    h.add_bucket(counts[static_cast<std::size_t>(i)]);
  }
  Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  Summary::Value* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  *v->mutable_histo() = std::move(h);
  write_record(e.SerializeAsString());
}

void SummaryWriter::image(const std::string& tag, const Tensor& images, std::int64_t step,
                          int max_outputs) {
  NEURONA_CHECK(images.defined() && images.rank() == 4 && images.numel() > 0, ValueError,
                "SummaryWriter.image: '", tag,
                "': expected images of shape (k, height, width, channels), got ",
                images.defined() ? images.shape() : Shape{});
  const Shape& s = images.shape();
  NEURONA_CHECK(s[3] == 1 || s[3] == 3 || s[3] == 4, ValueError, "SummaryWriter.image: '", tag,
                "': images need 1, 3 or 4 channels, got shape ", s);
  NEURONA_CHECK(max_outputs > 0, ValueError,
                "SummaryWriter.image: argument `max_outputs` must be > 0, got ", max_outputs);
  const std::int64_t k = std::min<std::int64_t>(s[0], max_outputs);
  Tensor bytes = images.to(Device::cpu()).slice(0, k);
  if (bytes.dtype() != DType::uint8) {
    NEURONA_CHECK(is_floating(bytes.dtype()), ValueError, "SummaryWriter.image: '", tag,
                  "': images must be uint8 or floats in [0, 1], got ", bytes.dtype());
    const std::vector<float> v = cast(bytes, DType::float32).to_vector<float>();
    bytes = Tensor::empty(Shape{k, s[1], s[2], s[3]}, DType::uint8, Device::cpu());
    std::uint8_t* b = bytes.data<std::uint8_t>();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const float x = std::isnan(v[i]) ? 0.0f : std::clamp(v[i] * 255.5f, 0.0f, 255.0f);
      b[i] = static_cast<std::uint8_t>(x);
    }
  }
  Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  Summary::Value* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("images");
  TensorProto* t = v->mutable_tensor();
  t->set_dtype(7);  // DT_STRING: width, height, then one PNG per image
  t->mutable_tensor_shape()->add_dim()->set_size(k + 2);
  t->add_string_val(std::to_string(s[2]));
  t->add_string_val(std::to_string(s[1]));
  for (std::int64_t i = 0; i < k; ++i) {
    t->add_string_val(data::encode_png(bytes.slice(i, i + 1).reshape({s[1], s[2], s[3]})));
  }
  write_record(e.SerializeAsString());
}

void SummaryWriter::keras_model(const std::string& tag, const std::string& model_json,
                                std::int64_t step) {
  Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  Summary::Value* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  // As Keras's keras_model_summary: TensorBoard's graph plugin draws the model from its config.
  SummaryMetadata::PluginData* plugin = v->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name("graph_keras_model");
  plugin->set_content("1");
  TensorProto* t = v->mutable_tensor();
  t->set_dtype(7);  // DT_STRING, a scalar
  t->mutable_tensor_shape();
  t->add_string_val(model_json);
  write_record(e.SerializeAsString());
}

std::vector<EventValue> read_event_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NEURONA_CHECK(in.good(), IoError, "read_event_file: cannot open ", path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<EventValue> out;
  std::size_t at = 0;
  bool first = true;
  while (at < bytes.size()) {
    NEURONA_CHECK(bytes.size() - at >= 12, IoError, "read_event_file: ", path,
                  ": a torn record header at byte ", at);
    const std::string_view length_bytes(bytes.data() + at, 8);
    const std::uint64_t length = from_le(bytes.data() + at, 8);
    NEURONA_CHECK(from_le(bytes.data() + at + 8, 4) == masked_crc32c(length_bytes), IoError,
                  "read_event_file: ", path, ": a corrupt record length at byte ", at);
    NEURONA_CHECK(length <= bytes.size() - at - 12 && bytes.size() - at - 12 - length >= 4, IoError,
                  "read_event_file: ", path, ": a torn record at byte ", at);
    const std::string_view data(bytes.data() + at + 12, length);
    NEURONA_CHECK(from_le(bytes.data() + at + 12 + length, 4) == masked_crc32c(data), IoError,
                  "read_event_file: ", path, ": a corrupt record at byte ", at);
    Event e;
    NEURONA_CHECK(e.ParseFromArray(data.data(), static_cast<int>(data.size())), IoError,
                  "read_event_file: ", path, ": a record at byte ", at, " is not an Event");
    if (first) {
      NEURONA_CHECK(e.file_version() == "brain.Event:2", IoError, "read_event_file: ", path,
                    ": the first event is not the file version (", e.file_version(), ")");
      first = false;
    }
    for (const Summary::Value& v : e.summary().value()) {
      EventValue ev;
      ev.wall_time = e.wall_time();
      ev.step = e.step();
      ev.tag = v.tag();
      if (v.has_histo()) {
        const HistogramProto& h = v.histo();
        ev.kind = "histogram";
        ev.min = h.min();
        ev.max = h.max();
        ev.num = h.num();
        ev.sum = h.sum();
        ev.sum_squares = h.sum_squares();
        ev.bucket_limit.assign(h.bucket_limit().begin(), h.bucket_limit().end());
        ev.bucket.assign(h.bucket().begin(), h.bucket().end());
      } else if (v.has_tensor()) {
        ev.kind = "tensor";
        ev.plugin = v.metadata().plugin_data().plugin_name();
        for (const std::string& text : v.tensor().string_val()) ev.strings.push_back(text);
        for (const auto& d : v.tensor().tensor_shape().dim()) ev.tensor_shape.push_back(d.size());
      } else {
        ev.kind = "scalar";
        ev.scalar = v.simple_value();
      }
      out.push_back(std::move(ev));
    }
    at += 12 + length + 4;
  }
  return out;
}

}  // namespace neurona::tensorboard
