// Fills the dispatch stubs' CUDA entries.
namespace neurona::kernels {
namespace cuda {
void register_elementwise();
void register_reduction();
void register_linalg();
void register_array();
void register_creation();
void register_conv();
void register_loss();
void register_optimizer();
void register_image();
void register_layer_norm();
void register_batch_norm();
void register_attention();
void register_rnn();
}  // namespace cuda

void register_cuda_kernels() {
  cuda::register_elementwise();
  cuda::register_reduction();
  cuda::register_linalg();
  cuda::register_array();
  cuda::register_creation();
  cuda::register_conv();
  cuda::register_loss();
  cuda::register_optimizer();
  cuda::register_image();
  cuda::register_layer_norm();
  cuda::register_batch_norm();
  cuda::register_attention();
  cuda::register_rnn();
}
}  // namespace neurona::kernels
