// `.weights.h5` through libhdf5's C API, always on file images in memory (the core driver):
// writing builds the whole file in memory so that the caller can write it atomically, and
// reading works on bytes the caller has read, so that a file on disk, an entry of a `.keras`
// zip and a fuzzer's input take the same path. HDF5 never prints its error stack from here;
// its failures become IoError with HDF5's own description appended.
#include "neurona/models/saving_h5.h"

#include <hdf5.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <set>

#include "neurona/autograd/ops.h"
#include "neurona/layers/layer.h"

namespace neurona::models::detail {

namespace {

// HDF5 keeps global state (its error stack settings, its table of open files); one lock for
// every use from neurona keeps concurrent saves and loads apart.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// Turns off HDF5's automatic printing of its error stack for the guard's lifetime.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// HDF5's description of the most specific errors on its stack, then clears it.
std::string hdf5_message() {
  std::vector<std::string> descs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* out = static_cast<std::vector<std::string>*>(data);
        if (out->size() < 2 && e != nullptr && e->desc != nullptr) out->emplace_back(e->desc);
        return 0;
      },
      &descs);
  H5Eclear2(H5E_DEFAULT);
  std::string out;
  for (const auto& d : descs) out += (out.empty() ? " (HDF5: " : "; ") + d;
  return out.empty() ? out : out + ")";
}

[[noreturn]] void fail(const std::string& message) {
  throw IoError(message + hdf5_message());
}

// An HDF5 identifier closed by its close function when the handle goes away.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      if (id_ >= 0) close_(id_);
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

Id checked(hid_t id, herr_t (*close)(hid_t), const std::string& what) {
  if (id < 0) fail(what);
  return Id(id, close);
}

void check(herr_t status, const std::string& what) {
  if (status < 0) fail(what);
}

// The core driver identifies files without a backing store by name: every image gets its own.
std::string image_name() {
  static std::atomic<std::uint64_t> counter{0};
  return "neurona-image-" + std::to_string(counter++) + ".h5";
}

std::string join(const std::string& path, const std::string& child) {
  return path.empty() ? child : path + "/" + child;
}

// IEEE binary16, little-endian: HDF5 1.10 has no predefined half type, so it is derived from
// float32 as h5py derives the type it writes for numpy's float16 (Keras 3's float16 weights).
Id float16_type() {
  Id t = checked(H5Tcopy(H5T_IEEE_F32LE), H5Tclose, "H5Tcopy");
  check(H5Tset_fields(t.get(), 15, 10, 5, 0, 10), "H5Tset_fields (float16)");
  check(H5Tset_size(t.get(), 2), "H5Tset_size (float16)");
  check(H5Tset_ebias(t.get(), 15), "H5Tset_ebias (float16)");
  return t;
}

// bfloat16 has no HDF5 type: Keras 3 writes it as 2-byte opaque data (numpy's view of
// ml_dtypes.bfloat16) with the dataset attribute dtype="bfloat16", and reads it back by that
// attribute.
constexpr const char* kDtypeAttribute = "dtype";

// A scalar variable-length UTF-8 string attribute `name` = `value` on `object` (what h5py writes
// for a Python str).
void write_string_attribute(hid_t object, const char* name, const std::string& value,
                            const std::string& where) {
  const Id str_type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "save_weights: H5Tcopy");
  check(H5Tset_size(str_type.get(), H5T_VARIABLE), "save_weights: H5Tset_size");
  check(H5Tset_cset(str_type.get(), H5T_CSET_UTF8), "save_weights: H5Tset_cset");
  const Id scalar = checked(H5Screate(H5S_SCALAR), H5Sclose, "save_weights: H5Screate");
  const Id attr = checked(
      H5Acreate2(object, name, str_type.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
      "save_weights: cannot create attribute '" + std::string(name) + "' of '" + where + "'");
  const char* ptr = value.c_str();
  check(H5Awrite(attr.get(), str_type.get(), &ptr),
        "save_weights: cannot write attribute '" + std::string(name) + "' of '" + where + "'");
}

}  // namespace

std::string write_weights_image(const std::vector<WeightGroup>& groups) {
  std::lock_guard lock(hdf5_mutex());
  const QuietErrors quiet;
  const Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "save_weights: H5Pcreate");
  check(H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/0),
        "save_weights: H5Pset_fapl_core");
  const Id file = checked(H5Fcreate(image_name().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                          H5Fclose, "save_weights: cannot create the HDF5 file in memory");
  const Id lcpl = checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "save_weights: H5Pcreate");
  check(H5Pset_create_intermediate_group(lcpl.get(), 1),
        "save_weights: H5Pset_create_intermediate");
  const Id half_type = float16_type();
  const Id bfloat16_type = checked(H5Tcreate(H5T_OPAQUE, 2), H5Tclose, "save_weights: H5Tcreate");

  for (const WeightGroup& g : groups) {
    const std::string vars_path = join(g.path, "vars");
    const Id vars =
        checked(H5Gcreate2(file.get(), vars_path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Gclose, "save_weights: cannot create group '" + vars_path + "'");
    // Keras's `name` attribute of the vars group.
    write_string_attribute(vars.get(), "name", g.name, vars_path);
    for (std::size_t i = 0; i < g.vars.size(); ++i) {
      const Tensor value = g.vars[i].to(Device::cpu());
      // The file type is the variable's own, as Keras 3 writes it; memory holds the same bytes.
      hid_t type = H5T_NATIVE_FLOAT;
      switch (value.dtype()) {
        case DType::float32:
          type = H5T_IEEE_F32LE;
          break;
        case DType::float64:
          type = H5T_IEEE_F64LE;
          break;
        case DType::float16:
          type = half_type.get();
          break;
        case DType::bfloat16:
          type = bfloat16_type.get();
          break;
        case DType::int64:  // an optimizer's iteration count
          type = H5T_STD_I64LE;
          break;
        case DType::int32:  // Normalization's count
          type = H5T_STD_I32LE;
          break;
        default:
          throw ValueError("save_weights: weight " + std::to_string(i) + " of '" + g.path +
                           "' has dtype " + std::string(name(value.dtype())) +
                           "; only float32, float64, float16, bfloat16 (and int32 or int64 "
                           "counters) can be saved");
      }
      std::vector<hsize_t> dims(value.shape().begin(), value.shape().end());
      const Id space = checked(
          dims.empty() ? H5Screate(H5S_SCALAR)
                       : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
          H5Sclose, "save_weights: H5Screate");
      const std::string ds_name = std::to_string(i);
      const Id ds = checked(
          H5Dcreate2(vars.get(), ds_name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                     H5P_DEFAULT),
          H5Dclose, "save_weights: cannot create dataset '" + vars_path + "/" + ds_name + "'");
      if (value.dtype() == DType::bfloat16) {
        write_string_attribute(ds.get(), kDtypeAttribute, "bfloat16", vars_path + "/" + ds_name);
      }
      if (value.numel() > 0) {
        check(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.raw_data()),
              "save_weights: cannot write dataset '" + vars_path + "/" + ds_name + "'");
      }
    }
  }
  check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "save_weights: H5Fflush");
  const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
  if (size < 0) fail("save_weights: H5Fget_file_image");
  std::string image(static_cast<std::size_t>(size), '\0');
  if (H5Fget_file_image(file.get(), image.data(), image.size()) != size) {
    fail("save_weights: H5Fget_file_image");
  }
  return image;
}

namespace {

// Where the file's addresses start and how wide they are, from its superblock.
struct Superblock {
  std::size_t base = 0;  // addresses in the file are relative to this byte of the image
  unsigned offset_size = 8;
  unsigned length_size = 8;
  // Group B-tree nodes hold up to 2 * group_internal_k children, symbol table nodes up to
  // 2 * group_leaf_k entries (HDF5's defaults; versions 0 and 1 of the superblock say them).
  unsigned group_leaf_k = 4;
  unsigned group_internal_k = 16;
};

std::uint64_t read_le(std::string_view image, std::size_t at, unsigned width) {
  std::uint64_t v = 0;
  for (unsigned k = 0; k < width; ++k) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(image[at + k])) << (8 * k);
  }
  return v;
}

// The object header at `address`, and every continuation chunk it points to, must fit in the
// image: libhdf5 1.10 allocates the size a header's prefix or a continuation message declares
// before it reads the chunk, so a corrupt size of gigabytes costs gigabytes (weights_h5_fuzzer
// found 8 GiB mallocs from both). Checked for every object the loader opens, before libhdf5
// opens it.
void check_object_header(std::string_view image, const Superblock& sb, haddr_t address,
                         const std::string& what, const std::string& object) {
  const std::size_t size = image.size();
  // `part`: the header, or a structure it points to.
  const auto corrupt = [&](const char* why, const char* part = "header") {
    throw IoError(
        neurona::detail::str(what, ": ", object, "'s ", part, " ", why, "; the file is corrupt"));
  };
  // Where a chunk's data (or another structure) lies in the image, after checking its length.
  const auto locate = [&](std::uint64_t relative, std::uint64_t length,
                          const char* part = "header") -> std::size_t {
    if (relative == HADDR_UNDEF || relative >= size || sb.base > size - relative) {
      corrupt("lies outside the file", part);
    }
    const std::size_t at = sb.base + static_cast<std::size_t>(relative);
    if (length > size - at) corrupt("declares more bytes than the file holds", part);
    return at;
  };
  // A group's v1 B-tree and the symbol table nodes it leads to: libhdf5 1.10 reads each node
  // by the size the superblock's K values give, wherever its parent points (weights_h5_fuzzer
  // found SEGVs in H5G__stab_count from nodes past the end of the file). Every node must lie
  // in the file, carry its signature and hold no more entries than it has room for.
  const auto check_group_btree = [&](std::uint64_t root, const auto& locate_in,
                                     const auto& corrupt_in) {
    const std::size_t o = sb.offset_size, l = sb.length_size;
    const std::size_t tree_node = 8 + 2 * o + 2 * sb.group_internal_k * o +
                                  (2 * static_cast<std::size_t>(sb.group_internal_k) + 1) * l;
    const std::size_t symbol_node =
        8 + 2 * static_cast<std::size_t>(sb.group_leaf_k) * (l + o + 24);
    struct Node {
      std::uint64_t address;
      int level;  // -1: a symbol table node
    };
    std::vector<Node> todo = {{root, 0}};
    bool first = true;
    for (std::size_t visited = 0; !todo.empty(); ++visited) {
      if (visited > 65536) corrupt_in("has more nodes than a weights file needs", "B-tree");
      const Node node = todo.back();
      todo.pop_back();
      if (node.level < 0) {
        const std::size_t at = locate_in(node.address, symbol_node, "symbol table node");
        if (std::memcmp(image.data() + at, "SNOD", 4) != 0) {
          corrupt_in("is not one", "symbol table node");
        }
        if (read_le(image, at + 6, 2) > 2 * static_cast<std::uint64_t>(sb.group_leaf_k)) {
          corrupt_in("holds more entries than it has room for", "symbol table node");
        }
        continue;
      }
      const std::size_t at = locate_in(node.address, tree_node, "B-tree");
      const int level = static_cast<unsigned char>(image[at + 5]);
      if (std::memcmp(image.data() + at, "TREE", 4) != 0 || image[at + 4] != 0 ||
          (!first && level != node.level)) {
        corrupt_in("is not a group B-tree node", "B-tree");
      }
      first = false;
      const std::uint64_t entries = read_le(image, at + 6, 2);
      if (entries > 2 * static_cast<std::uint64_t>(sb.group_internal_k)) {
        corrupt_in("holds more entries than it has room for", "B-tree");
      }
      for (std::uint64_t i = 0; i < entries; ++i) {
        const std::size_t child = at + 8 + 2 * o + l + static_cast<std::size_t>(i) * (l + o);
        todo.push_back({read_le(image, child, o), level > 0 ? level - 1 : -1});
      }
    }
  };
  struct Chunk {
    std::size_t begin, end;  // the messages, in the image
  };
  std::vector<Chunk> chunks;
  const std::size_t at = locate(address, 16);
  const bool v2 = std::memcmp(image.data() + at, "OHDR", 4) == 0;
  unsigned flags = 0;
  if (v2) {
    flags = static_cast<unsigned char>(image[at + 5]);
    const std::size_t field = at + 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const unsigned width = 1u << (flags & 3u);
    if (image[at + 4] != 2 || field + width > size) corrupt("is malformed");
    const std::uint64_t declared = read_le(image, field, width);
    if (declared > size - (field + width)) corrupt("declares more bytes than the file holds");
    chunks.push_back({field + width, field + width + static_cast<std::size_t>(declared)});
  } else {  // version 1: version, reserved, message count, reference count, header size
    if (image[at] != 1) corrupt("has an unknown version");
    const std::uint64_t declared = read_le(image, at + 8, 4);
    if (declared > size - (at + 16)) corrupt("declares more bytes than the file holds");
    chunks.push_back({at + 16, at + 16 + static_cast<std::size_t>(declared)});
  }
  // The messages of each chunk; a continuation message (type 0x10: offset, length) adds one.
  const std::size_t message_header = v2 ? 4 + ((flags & 0x04) ? 2 : 0) : 8;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (chunks.size() > 4096) corrupt("has too many continuation chunks");
    std::size_t p = chunks[c].begin;
    const std::size_t end = chunks[c].end;
    while (p + message_header <= end) {
      const unsigned type =
          v2 ? static_cast<unsigned char>(image[p]) : static_cast<unsigned>(read_le(image, p, 2));
      const std::size_t length = static_cast<std::size_t>(read_le(image, p + (v2 ? 1 : 2), 2));
      const std::size_t data = p + message_header;
      if (length > end - data) break;  // the gap at a chunk's end (libhdf5 checks the rest)
      if (type == 0x11 && length >= 2 * sb.offset_size) {
        // A symbol table (an old-style group: Keras's files through h5py): its v1 B-tree and
        // its local heap, whose data segment libhdf5 1.10 copies by the size the heap's header
        // declares (weights_h5_fuzzer found a SEGV in H5HL_protect from a corrupt one).
        const std::uint64_t btree = read_le(image, data, sb.offset_size);
        const std::uint64_t heap = read_le(image, data + sb.offset_size, sb.offset_size);
        check_group_btree(btree, locate, corrupt);
        // Local heap: "HEAP", version 0, 3 reserved bytes, the data segment's size, the offset
        // of the free list's head (1: none), the data segment's address.
        const std::size_t heap_at =
            locate(heap, 8 + 2 * sb.length_size + sb.offset_size, "name heap");
        if (std::memcmp(image.data() + heap_at, "HEAP", 4) != 0 || image[heap_at + 4] != 0) {
          corrupt("is not a local heap", "name heap");
        }
        const std::uint64_t segment_size = read_le(image, heap_at + 8, sb.length_size);
        const std::uint64_t free_head =
            read_le(image, heap_at + 8 + sb.length_size, sb.length_size);
        const std::uint64_t segment =
            read_le(image, heap_at + 8 + 2 * sb.length_size, sb.offset_size);
        (void)locate(segment, segment_size, "name heap's data");
        if (free_head != 1 && free_head >= segment_size) {
          corrupt("has a free list that starts outside it", "name heap");
        }
      }
      if (type == 0x10 && length >= sb.offset_size + sb.length_size) {
        const std::uint64_t offset = read_le(image, data, sb.offset_size);
        const std::uint64_t chunk_length = read_le(image, data + sb.offset_size, sb.length_size);
        const std::size_t begin = locate(offset, chunk_length);
        // Version 2 chunks start with "OCHK" and end with a checksum.
        const std::size_t skip = v2 ? 4 : 0, tail = v2 ? 4 : 0;
        if (chunk_length >= skip + tail) {
          chunks.push_back({begin + skip, begin + static_cast<std::size_t>(chunk_length) - tail});
        }
      }
      p = data + length;
    }
  }
}

// HDF5's format signature; the superblock sits at 0, 512, 1024, 2048, ... (after a user block).
// Returns where addresses start, after checking the root group's object header.
Superblock check_superblock(std::string_view image, const std::string& what) {
  static constexpr char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  NEURONA_CHECK(!image.empty(), IoError, what, ": the file is empty");
  for (std::size_t at = 0; at + 8 <= image.size(); at = at == 0 ? 512 : at * 2) {
    if (std::memcmp(image.data() + at, kSignature, 8) != 0) continue;
    NEURONA_CHECK(at + 48 <= image.size(), IoError, what,
                  ": the file is truncated (it ends inside the HDF5 superblock)");
    const auto version = static_cast<unsigned char>(image[at + 8]);
    NEURONA_CHECK(version <= 3, IoError, what, ": unknown HDF5 superblock version ",
                  static_cast<int>(version), " (the file is corrupt or not HDF5)");
    // Versions 0 and 1: the offset size at byte 13, then (from byte 24 or 28) four addresses
    // (base, free space, end of file, driver) and the root group's symbol table entry (name
    // offset, object header address). Versions 2 and 3: the offset size at byte 9, then the
    // base, extension, end-of-file and root object header addresses from byte 12.
    Superblock sb;
    sb.offset_size = static_cast<unsigned char>(image[at + (version <= 1 ? 13 : 9)]);
    sb.length_size = static_cast<unsigned char>(image[at + (version <= 1 ? 14 : 10)]);
    NEURONA_CHECK((sb.offset_size == 4 || sb.offset_size == 8) &&
                      (sb.length_size == 4 || sb.length_size == 8),
                  IoError, what, ": the HDF5 superblock declares ", sb.offset_size,
                  "-byte addresses and ", sb.length_size, "-byte lengths; the file is corrupt");
    if (version <= 1) {
      sb.group_leaf_k = static_cast<unsigned>(read_le(image, at + 16, 2));
      sb.group_internal_k = static_cast<unsigned>(read_le(image, at + 18, 2));
      NEURONA_CHECK(sb.group_leaf_k > 0 && sb.group_internal_k > 0, IoError, what,
                    ": the HDF5 superblock declares group nodes of no entries; the file is "
                    "corrupt");
    }
    const std::size_t addresses = at + (version == 0 ? 24 : version == 1 ? 28 : 12);
    const std::size_t root_field =
        addresses + (version <= 1 ? 5 : 3) * static_cast<std::size_t>(sb.offset_size);
    NEURONA_CHECK(root_field + sb.offset_size <= image.size(), IoError, what,
                  ": the file is truncated (it ends inside the HDF5 superblock)");
    // libhdf5 takes the superblock's own position as the base address (it overrides a base
    // address field that disagrees), and so does this check.
    sb.base = at;
    check_object_header(image, sb, read_le(image, root_field, sb.offset_size), what,
                        "the root group");
    return sb;
  }
  throw IoError(what +
                ": not an HDF5 file (no HDF5 signature; a Keras .weights.h5 file starts with "
                "\\x89HDF)");
}

// Opens the group at `path` below `root` (components separated by '/') only through hard links, as
// Keras's safe_get_h5_group does: a soft or external link could point anywhere. Returns an invalid
// Id when a component is missing.
Id open_group(hid_t root, const std::string& path, const std::string& what, std::string_view image,
              const Superblock& sb) {
  Id current(H5Gopen2(root, ".", H5P_DEFAULT), H5Gclose);
  if (!current.valid()) fail(what + ": cannot open a group");
  std::size_t start = 0;
  while (start <= path.size() && !path.empty()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    const std::string so_far = path.substr(0, end);
    const htri_t exists = H5Lexists(current.get(), part.c_str(), H5P_DEFAULT);
    if (exists < 0) fail(what + ": cannot look up '" + so_far + "'");
    if (exists == 0) {
      H5Eclear2(H5E_DEFAULT);
      return Id(-1, H5Gclose);
    }
    H5L_info_t info;
    if (H5Lget_info(current.get(), part.c_str(), &info, H5P_DEFAULT) < 0) {
      fail(what + ": cannot read the link '" + so_far + "'");
    }
    NEURONA_CHECK(info.type == H5L_TYPE_HARD, ValueError, what, ": '", so_far,
                  "' is a soft or external link; a weights file may only hold plain groups");
    check_object_header(image, sb, info.u.address, what, "'" + so_far + "'");
    const Id object = checked(H5Oopen(current.get(), part.c_str(), H5P_DEFAULT), H5Oclose,
                              what + ": cannot open '" + so_far + "'");
    NEURONA_CHECK(H5Iget_type(object.get()) == H5I_GROUP, ValueError, what, ": '", so_far,
                  "' should be a group, but it is not");
    Id next(H5Gopen2(current.get(), part.c_str(), H5P_DEFAULT), H5Gclose);
    if (!next.valid()) fail(what + ": cannot open group '" + so_far + "'");
    current = std::move(next);
    start = end + 1;
  }
  return current;
}

std::vector<std::string> child_names(hid_t group, const std::string& path,
                                     const std::string& what) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) fail(what + ": cannot list '" + path + "'");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) fail(what + ": cannot list '" + path + "'");
    NEURONA_CHECK(len < 4096, ValueError, what, ": a link name in '", path, "' is ", len,
                  " bytes long");
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT) < 0) {
      fail(what + ": cannot list '" + path + "'");
    }
    name.resize(static_cast<std::size_t>(len));
    names.push_back(std::move(name));
  }
  return names;
}

std::string names_str(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out + "]";
}

std::string dims_str(const std::vector<hsize_t>& dims) {
  std::vector<std::int64_t> d;
  for (hsize_t x : dims)
    d.push_back(x > static_cast<hsize_t>(INT64_MAX) ? -1 : static_cast<std::int64_t>(x));
  return layers::shape_str(Shape(d));
}

// Reads dataset vars/<i> of `e` after checking that it is a plain float dataset of the
// expected shape.
Tensor read_dataset(hid_t vars, const ExpectedGroup& e, std::size_t i, const std::string& vars_path,
                    std::string_view image, const Superblock& sb, const std::string& what) {
  const std::size_t image_size = image.size();
  const std::string ds_name = std::to_string(i);
  const std::string full = vars_path + "/" + ds_name;
  const std::string weight = e.layer + " weight '" + e.names[i] + "' (" + full + ")";
  const htri_t exists = H5Lexists(vars, ds_name.c_str(), H5P_DEFAULT);
  if (exists <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw ValueError(what + ": " + weight + " is missing from the file");
  }
  H5L_info_t info;
  if (H5Lget_info(vars, ds_name.c_str(), &info, H5P_DEFAULT) < 0) {
    fail(what + ": cannot read the link " + full);
  }
  NEURONA_CHECK(info.type == H5L_TYPE_HARD, ValueError, what, ": ", weight,
                " is a soft or external link; a weights file may only hold plain datasets");
  check_object_header(image, sb, info.u.address, what, weight);
  const Id object = checked(H5Oopen(vars, ds_name.c_str(), H5P_DEFAULT), H5Oclose,
                            what + ": cannot open " + full);
  NEURONA_CHECK(H5Iget_type(object.get()) == H5I_DATASET, ValueError, what, ": ", weight,
                " should be a dataset, but it is not");
  const Id ds = checked(H5Dopen2(vars, ds_name.c_str(), H5P_DEFAULT), H5Dclose,
                        what + ": cannot open dataset " + full);
  const Id dcpl = checked(H5Dget_create_plist(ds.get()), H5Pclose,
                          what + ": cannot read the properties of " + full);
  NEURONA_CHECK(H5Pget_layout(dcpl.get()) != H5D_VIRTUAL && H5Pget_external_count(dcpl.get()) == 0,
                ValueError, what, ": ", weight,
                " is a virtual or external dataset; its data must be inside the file");
  const Id type =
      checked(H5Dget_type(ds.get()), H5Tclose, what + ": cannot read the type of " + full);
  const bool integer = e.dtypes[i] == DType::int64 || e.dtypes[i] == DType::int32;
  // HDF5 sizes its conversion buffer by the element size the file declares; a corrupt type of
  // gigabytes per element would have it allocate that much per element read.
  const std::size_t type_size = H5Tget_size(type.get());
  const H5T_class_t type_class = H5Tget_class(type.get());
  // Keras 3's bfloat16: 2-byte opaque data (marked with the attribute dtype="bfloat16", which is
  // not consulted: the only 2-byte opaque type Keras and neurona write is bfloat16, and libhdf5
  // 1.10 copies out of bounds while decoding corrupt attribute messages, as weights_h5_fuzzer
  // found; the loader reads no attribute).
  const bool bfloat16_data = type_class == H5T_OPAQUE && type_size == 2;
  if (integer) {
    NEURONA_CHECK(type_class == H5T_INTEGER, ValueError, what, ": ", weight,
                  " is not an integer dataset");
    NEURONA_CHECK(type_size == 1 || type_size == 2 || type_size == 4 || type_size == 8, ValueError,
                  what, ": ", weight, " has ", type_size, "-byte integers");
  } else if (!bfloat16_data) {
    NEURONA_CHECK(type_class == H5T_FLOAT, ValueError, what, ": ", weight,
                  " is not a floating-point dataset (nor Keras's bfloat16: 2-byte opaque data)");
    NEURONA_CHECK(type_size == 2 || type_size == 4 || type_size == 8, ValueError, what, ": ",
                  weight, " has ", type_size,
                  "-byte floats; a weights file holds float16, float32 or float64 values");
  }
  const Id space =
      checked(H5Dget_space(ds.get()), H5Sclose, what + ": cannot read the shape of " + full);
  const H5S_class_t cls = H5Sget_simple_extent_type(space.get());
  NEURONA_CHECK(cls == H5S_SIMPLE || cls == H5S_SCALAR, ValueError, what, ": ", weight,
                " has no shape (an empty HDF5 dataspace)");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > H5S_MAX_RANK) fail(what + ": cannot read the shape of " + full);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
    fail(what + ": cannot read the shape of " + full);
  }
  const Shape& expected = e.shapes[i];
  bool same = rank == expected.rank();
  for (int d = 0; same && d < rank; ++d) {
    same = dims[static_cast<std::size_t>(d)] == static_cast<hsize_t>(expected[d]);
  }
  NEURONA_CHECK(same, ValueError, what, ": ", weight, " has shape ", dims_str(dims),
                " in the file, but the model expects ", layers::shape_str(expected));
  // Where the data sits, checked against the file before libhdf5 copies it. Keras (h5py) and
  // neurona write contiguous, unfiltered datasets; other layouts are refused before any data is
  // read: libhdf5 1.10 reads corrupt chunk indexes and compact layout messages out of bounds.
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  NEURONA_CHECK(layout == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl.get()) == 0, ValueError, what,
                ": ", weight, " is stored ",
                layout == H5D_CHUNKED      ? "in chunks"
                : layout == H5D_COMPACT    ? "compactly"
                : layout == H5D_CONTIGUOUS ? "with filters"
                                           : "in an unknown layout",
                "; neurona reads the contiguous, unfiltered datasets that Keras and neurona "
                "write");
  const hsize_t bytes = static_cast<hsize_t>(expected.numel()) * type_size;
  const hsize_t stored = H5Dget_storage_size(ds.get());
  if (stored != 0) {  // 0: never written, reads as fill
    const haddr_t offset = H5Dget_offset(ds.get());
    NEURONA_CHECK(stored == bytes && offset != HADDR_UNDEF && offset <= image_size &&
                      stored <= image_size - offset,
                  IoError, what, ": ", weight, " claims ", stored, " bytes at offset ", offset,
                  " of a ", image_size, "-byte file for ", bytes,
                  " bytes of data; the file is truncated or corrupt");
  }
  // The shape is the model's, so the allocation is bounded by the model's own size. Values are
  // read in the variable's own type: HDF5 converts between float widths into float32 (float64
  // for float64 variables), and 16-bit variables round that once to nearest even, as
  // Keras's assign does; bfloat16 data are read as their bits.
  const DType target = e.dtypes[i];
  const DType read_as = integer                    ? DType::int64
                        : bfloat16_data            ? DType::bfloat16
                        : target == DType::float64 ? DType::float64
                                                   : DType::float32;
  Tensor out = Tensor::empty(expected, read_as, Device::cpu());
  if (out.numel() > 0) {
    const hid_t mem = read_as == DType::int64     ? H5T_NATIVE_INT64
                      : read_as == DType::float64 ? H5T_NATIVE_DOUBLE
                      : read_as == DType::float32 ? H5T_NATIVE_FLOAT
                                                  : type.get();  // bfloat16 bits as stored
    if (H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.raw_data()) < 0) {
      fail(what + ": cannot read " + weight + "; the file is truncated or corrupt");
    }
  }
  return read_as == target ? out : cast(out, target);
}

}  // namespace

std::vector<std::vector<Tensor>> read_weights_image(
    std::string_view image, const std::vector<ExpectedGroup>& expected,
    const std::vector<std::string>& closed_containers, const std::string& what,
    std::vector<std::string>* skipped) {
  const Superblock sb = check_superblock(image, what);
  std::lock_guard lock(hdf5_mutex());
  const QuietErrors quiet;
  const Id fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, what + ": H5Pcreate");
  check(H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/0), what + ": H5Pset_fapl_core");
  // Closing the file closes whatever a failed call on corrupt metadata left open.
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), what + ": H5Pset_fclose_degree");
  // H5Pset_file_image copies the bytes; HDF5 never writes to them (read-only open).
  check(H5Pset_file_image(fapl.get(), const_cast<char*>(image.data()), image.size()),
        what + ": H5Pset_file_image");
  const Id file = checked(H5Fopen(image_name().c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose,
                          what + ": not a readable HDF5 file (truncated or corrupt)");

  std::set<std::string> expected_paths;
  for (const ExpectedGroup& e : expected) expected_paths.insert(e.path);
  for (const std::string& container : closed_containers) {
    const Id group = open_group(file.get(), container, what, image, sb);
    if (!group.valid()) continue;  // a container of weightless layers may be absent
    for (const std::string& child : child_names(group.get(), container, what)) {
      NEURONA_CHECK(expected_paths.count(join(container, child)) > 0, ValueError, what,
                    ": the file has weights for '", join(container, child),
                    "', which the model does not have (was it saved from a different model?)");
    }
  }

  std::vector<std::vector<Tensor>> out;
  for (const ExpectedGroup& e : expected) {
    const std::string vars_path = join(e.path, "vars");
    const Id group = open_group(file.get(), e.path, what, image, sb);
    Id vars(-1, H5Gclose);
    if (group.valid()) {
      vars = open_group(group.get(), "vars", what + " ('" + e.path + "')", image, sb);
    }
    const std::size_t n = e.names.size();
    if (!vars.valid()) {
      NEURONA_CHECK(n == 0 || e.optional, ValueError, what, ": ", e.layer, " expects ", n,
                    " weights ", names_str(e.names), " under '", vars_path,
                    "', but the file has no such group (was it saved from a different model?)");
      out.emplace_back();
      continue;
    }
    const std::vector<std::string> found = child_names(vars.get(), vars_path, what);
    if (found.size() != n && e.optional) {
      if (skipped != nullptr) {
        skipped->push_back(e.layer + " has " + std::to_string(n) +
                           " variables whereas the file has " + std::to_string(found.size()) +
                           " under '" + vars_path + "'");
      }
      out.emplace_back();
      continue;
    }
    if (found.size() != n) {
      NEURONA_CHECK(e.layer_built || found.empty(), ValueError, what, ": ", e.layer,
                    " is not built yet, but the file has ", found.size(),
                    " weights for it; call the model on inputs (or give it an Input) before "
                    "load_weights");
      throw ValueError(what + ": " + e.layer + " expects " + std::to_string(n) + " weights " +
                       names_str(e.names) + " under '" + vars_path + "', but the file has " +
                       std::to_string(found.size()) + " " + names_str(found));
    }
    std::vector<Tensor> values;
    for (std::size_t i = 0; i < n; ++i)
      values.push_back(read_dataset(vars.get(), e, i, vars_path, image, sb, what));
    out.push_back(std::move(values));
  }
  return out;
}

}  // namespace neurona::models::detail
