#include "io/image.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace mmada {

namespace {

// libpng and libjpeg report errors by longjmp. Each setjmp below lives in a small function
// whose locals are all trivially destructible, and longjmp never leaves that function, so no
// C++ destructor is ever skipped; the owning C++ frame cleans up after it returns false.

void check_dimensions(int64_t w, int64_t h, const std::string& name) {
  MMADA_CHECK(w > 0 && h > 0, name, ": image has zero size (", w, "x", h, ")");
  MMADA_CHECK(w <= kMaxImageSide && h <= kMaxImageSide, name, ": image is ", w, "x", h,
              ", larger than the limit of ", kMaxImageSide, " pixels per side");
  MMADA_CHECK(w * h <= kMaxImagePixels, name, ": image is ", w, "x", h, " = ", w * h,
              " pixels, over the limit of ", kMaxImagePixels);
}

// ---------------------------------------------------------------------------------------------
// PNG

struct PngIo {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  std::vector<uint8_t>* out = nullptr;  // writing
  char msg[200] = "";
};

void png_read_mem(png_structp png, png_bytep dst, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (n > io->size - io->pos) png_error(png, "file is truncated");
  std::memcpy(dst, io->data + io->pos, n);
  io->pos += n;
}

void png_write_mem(png_structp png, png_bytep src, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  io->out->insert(io->out->end(), src, src + n);
}
void png_flush_mem(png_structp) {}

void png_on_error(png_structp png, png_const_charp msg) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->msg, sizeof io->msg, "%s", msg);
  png_longjmp(png, 1);
}
void png_on_warning(png_structp, png_const_charp) {}

struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngIo io;
  PngReader(const uint8_t* data, size_t size, const std::string& name) {
    io.data = data;
    io.size = size;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    MMADA_CHECK(png, name, ": cannot initialise libpng");
    info = png_create_info_struct(png);
    if (!info) {
      png_destroy_read_struct(&png, nullptr, nullptr);
      fail(name, ": cannot initialise libpng");
    }
    png_set_read_fn(png, &io, png_read_mem);
  }
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
};

// Reads the chunks up to the image data (no pixel memory yet; the caller checks the size).
bool png_read_header(png_structp png, png_infop info, png_uint_32* w, png_uint_32* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_chunk_malloc_max(png, 8u << 20);  // text / ICC chunks; a zTXt bomb stops here
  png_read_info(png, info);
  *w = png_get_image_width(png, info);
  *h = png_get_image_height(png, info);
  return true;
}

// Transformations that give convert("RGB"): palette lookup, grey replicated, 16-bit samples
// reduced to their high byte, alpha (also from tRNS) stripped rather than composited.
bool png_read_pixels(png_structp png, png_infop info, png_bytep* rows, size_t row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != row_bytes || png_get_channels(png, info) != 3)
    png_error(png, "unsupported PNG pixel layout");
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

// IHDR must be the first chunk: its size is checked before libpng reads anything else.
void check_png_ihdr(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < 24 || std::memcmp(bytes + 12, "IHDR", 4) != 0) return;  // libpng explains
  auto be32 = [&](size_t at) {
    return int64_t(bytes[at]) << 24 | int64_t(bytes[at + 1]) << 16 | int64_t(bytes[at + 2]) << 8 | bytes[at + 3];
  };
  check_dimensions(be32(16), be32(20), name);
}

RgbImage decode_png(const uint8_t* bytes, size_t size, const std::string& name) {
  check_png_ihdr(bytes, size, name);
  PngReader r(bytes, size, name);
  png_uint_32 w = 0, h = 0;
  if (!png_read_header(r.png, r.info, &w, &h))
    fail(name, ": invalid PNG header: ", r.io.msg);
  check_dimensions(w, h, name);
  RgbImage img{int(w), int(h)};
  std::vector<png_bytep> rows(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = img.row(int(y));
  if (!png_read_pixels(r.png, r.info, rows.data(), size_t(w) * 3))
    fail(name, ": cannot decode PNG: ", r.io.msg);
  return img;
}

// ---------------------------------------------------------------------------------------------
// JPEG

// Progressive JPEGs can hold thousands of tiny scans that take minutes to decode.
constexpr int kMaxJpegScans = 1000;

struct JpegErr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX] = "";
};

void jpeg_on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErr*>(c->err);
  (*c->err->format_message)(c, e->msg);
  std::longjmp(e->jump, 1);
}

// Warnings are ignored (like Pillow) except a premature end of data: a truncated file is an
// error, not an image with a grey bottom.
void jpeg_on_message(j_common_ptr c, int level) {
  if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(c);
}

void jpeg_on_progress(j_common_ptr c) {
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* e = reinterpret_cast<JpegErr*>(c->err);
    std::snprintf(e->msg, sizeof e->msg, "more than %d scans", kMaxJpegScans);
    std::longjmp(e->jump, 1);
  }
}

struct JpegReader {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  jpeg_progress_mgr progress;
  bool created = false;
  ~JpegReader() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

bool jpeg_read_header_phase(JpegReader* r, const uint8_t* bytes, size_t size) {
  std::memset(&r->cinfo, 0, sizeof r->cinfo);
  r->cinfo.err = jpeg_std_error(&r->err.pub);
  r->err.pub.error_exit = jpeg_on_error;
  r->err.pub.emit_message = jpeg_on_message;
  if (setjmp(r->err.jump)) return false;
  jpeg_create_decompress(&r->cinfo);
  r->created = true;
  r->progress.progress_monitor = jpeg_on_progress;
  r->cinfo.progress = &r->progress;
  r->cinfo.mem->max_memory_to_use = 2048L << 20;
  jpeg_mem_src(&r->cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&r->cinfo, TRUE);
  return true;
}

bool jpeg_read_pixels_phase(JpegReader* r, uint8_t* dst, size_t row_bytes) {
  if (setjmp(r->err.jump)) return false;
  r->cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&r->cinfo);
  if (r->cinfo.output_components != 3 || size_t(r->cinfo.output_width) * 3 != row_bytes) {
    std::snprintf(r->err.msg, sizeof r->err.msg, "unexpected output layout");
    return false;
  }
  while (r->cinfo.output_scanline < r->cinfo.output_height) {
    JSAMPROW row = dst + size_t(r->cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&r->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&r->cinfo);
  return true;
}

RgbImage decode_jpeg(const uint8_t* bytes, size_t size, const std::string& name) {
  JpegReader r;
  if (!jpeg_read_header_phase(&r, bytes, size)) fail(name, ": invalid JPEG header: ", r.err.msg);
  const J_COLOR_SPACE cs = r.cinfo.jpeg_color_space;
  MMADA_CHECK(cs == JCS_GRAYSCALE || cs == JCS_YCbCr || cs == JCS_RGB, name,
              ": unsupported JPEG colour space (CMYK/YCCK); convert the image to RGB first");
  check_dimensions(r.cinfo.image_width, r.cinfo.image_height, name);
  RgbImage img{int(r.cinfo.image_width), int(r.cinfo.image_height)};
  if (!jpeg_read_pixels_phase(&r, img.rgb.data(), size_t(img.width) * 3))
    fail(name, ": cannot decode JPEG: ", r.err.msg);
  return img;
}

bool png_write_phase(png_structp png, png_infop info, const RgbImage* img, png_textp text,
                     int n_text, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, png_uint_32(img->width), png_uint_32(img->height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0) png_set_text(png, info, text, n_text);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

bool png_text_phase(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  return true;
}

}  // namespace

RgbImage decode_image(const uint8_t* bytes, size_t size, const std::string& name) {
  static const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(bytes, kPngMagic, 8) == 0) return decode_png(bytes, size, name);
  if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
    return decode_jpeg(bytes, size, name);
  fail(name, ": not a PNG or JPEG file");
}

RgbImage load_image(const std::string& path) {
  std::error_code ec;
  MMADA_CHECK(fs::is_regular_file(path, ec), path, ": no such image file");
  std::ifstream in(path, std::ios::binary);
  MMADA_CHECK(in.good(), path, ": cannot open");
  const auto size = fs::file_size(path, ec);
  MMADA_CHECK(!ec && size <= (size_t(1) << 30), path, ": image file larger than 1 GiB");
  std::vector<uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size));
  MMADA_CHECK(in.gcount() == std::streamsize(size), path, ": read failed");
  return decode_image(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_png(const RgbImage& img, const PngText& text) {
  MMADA_CHECK(img.width > 0 && img.height > 0 &&
                  img.rgb.size() == size_t(img.width) * size_t(img.height) * 3,
              "PNG writer: image buffer does not match ", img.width, "x", img.height, " RGB");
  for (const auto& [k, v] : text)
    MMADA_CHECK(!k.empty() && k.size() <= 79, "PNG writer: text key '", k, "' must have 1-79 bytes");
  std::vector<uint8_t> out;
  PngIo io;
  io.out = &out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
  MMADA_CHECK(png, "cannot initialise libpng");
  png_infop info = png_create_info_struct(png);
  std::vector<png_text> chunks(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
    chunks[i].key = const_cast<char*>(text[i].first.c_str());
    chunks[i].text = const_cast<char*>(text[i].second.c_str());
    chunks[i].text_length = text[i].second.size();
  }
  std::vector<png_bytep> rows(size_t(img.height));
  for (int y = 0; y < img.height; ++y) rows[size_t(y)] = const_cast<png_bytep>(img.row(y));
  png_set_write_fn(png, &io, png_write_mem, png_flush_mem);
  const bool ok = info && png_write_phase(png, info, &img, chunks.data(), int(chunks.size()), rows.data());
  png_destroy_write_struct(&png, &info);
  MMADA_CHECK(ok, "PNG writer: ", io.msg);
  return out;
}

void write_png(const std::string& path, const RgbImage& img, const PngText& text) {
  const std::vector<uint8_t> bytes = encode_png(img, text);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MMADA_CHECK(out.good(), tmp, ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.close();
    MMADA_CHECK(out.good(), tmp, ": write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  MMADA_CHECK(!ec, path, ": rename from ", tmp, " failed: ", ec.message());
}

PngText read_png_text(const uint8_t* bytes, size_t size, const std::string& name) {
  PngReader r(bytes, size, name);
  if (!png_text_phase(r.png, r.info)) fail(name, ": invalid PNG: ", r.io.msg);
  png_textp t = nullptr;
  int n = 0;
  png_get_text(r.png, r.info, &t, &n);
  PngText out;
  for (int i = 0; i < n; ++i)
    out.emplace_back(t[i].key, std::string(t[i].text, t[i].text_length));
  return out;
}

}  // namespace mmada
