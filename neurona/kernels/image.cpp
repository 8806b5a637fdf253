// Front doors of the image ops: shapes, the (outer, h, w, inner) view each data format gives,
// then dispatch. Both data formats run the same kernel, without transposes.
#include "neurona/kernels/image.h"

#include "neurona/kernels/checks.h"
#include "neurona/kernels/image_stubs.h"

namespace neurona::kernels {

DispatchStub<ResizeFn> resize_stub{"resize"};

DispatchStub<ResizeBackwardFn> resize_backward_stub{"resize_backward"};

namespace {

// The geometry of resizing `shape` (3-D or 4-D in `format`) to out_h x out_w.
ResizeGeometry resize_geometry(const char* op, const Shape& shape, std::int64_t out_h,
                               std::int64_t out_w, DataFormat format) {
  NEURONA_CHECK(shape.rank() == 3 || shape.rank() == 4, ShapeError, op,
                ": Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                "images). Received input with shape: images.shape=",
                shape);
  NEURONA_CHECK(out_h > 0 && out_w > 0, ValueError, op, ": the target size must be positive, got (",
                out_h, ", ", out_w, ")");
  const int r = shape.rank();
  const std::int64_t batch = r == 4 ? shape[0] : 1;
  ResizeGeometry g;
  g.out_h = out_h;
  g.out_w = out_w;
  if (format == DataFormat::ChannelsLast) {
    g.outer = batch;
    g.in_h = shape[r - 3];
    g.in_w = shape[r - 2];
    g.inner = shape[r - 1];
  } else {
    g.outer = batch * shape[r - 3];
    g.in_h = shape[r - 2];
    g.in_w = shape[r - 1];
    g.inner = 1;
  }
  NEURONA_CHECK(g.in_h > 0 && g.in_w > 0, ShapeError, op, ": cannot resize images of shape ", shape,
                ": height and width must be positive");
  return g;
}

Shape resized_shape(const Shape& shape, std::int64_t out_h, std::int64_t out_w, DataFormat format) {
  std::vector<std::int64_t> dims(shape.begin(), shape.end());
  const std::size_t h = dims.size() - (format == DataFormat::ChannelsLast ? 3 : 2);
  dims[h] = out_h;
  dims[h + 1] = out_w;
  return Shape(std::move(dims));
}

}  // namespace

Tensor resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
              const ResizeOptions& options) {
  const Device d = check_same_device("resize", {{"images", &images}});
  check_floating("resize", "images", images);
  const ResizeGeometry g =
      resize_geometry("resize", images.shape(), size[0], size[1], options.data_format);
  Tensor out = Tensor::empty(resized_shape(images.shape(), size[0], size[1], options.data_format),
                             images.dtype(), d);
  if (out.numel() > 0) resize_stub.get(d)(options.interpolation, images, g, out);
  return out;
}

Tensor resize_backward(const Tensor& grad_out, const Shape& images_shape,
                       const ResizeOptions& options) {
  const Device d = check_same_device("resize_backward", {{"grad_out", &grad_out}});
  check_floating("resize_backward", "grad_out", grad_out);
  NEURONA_CHECK((images_shape.rank() == 3 || images_shape.rank() == 4) &&
                    grad_out.rank() == images_shape.rank(),
                ShapeError, "resize_backward: grad_out of shape ", grad_out.shape(),
                " does not match images of shape ", images_shape);
  const int h = options.data_format == DataFormat::ChannelsLast ? images_shape.rank() - 3
                                                                : images_shape.rank() - 2;
  const ResizeGeometry g = resize_geometry("resize_backward", images_shape, grad_out.shape()[h],
                                           grad_out.shape()[h + 1], options.data_format);
  const Shape expected = resized_shape(images_shape, g.out_h, g.out_w, options.data_format);
  NEURONA_CHECK(grad_out.shape() == expected, ShapeError, "resize_backward: grad_out has shape ",
                grad_out.shape(), ", expected ", expected);
  Tensor dx = Tensor::empty(images_shape, grad_out.dtype(), d);
  if (dx.numel() > 0) resize_backward_stub.get(d)(options.interpolation, grad_out, g, dx);
  return dx;
}

}  // namespace neurona::kernels
