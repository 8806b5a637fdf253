// Fills the dispatch stubs' CPU entries.
namespace neurona::kernels {
namespace cpu {
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
}  // namespace cpu

void register_cpu_kernels() {
  cpu::register_elementwise();
  cpu::register_reduction();
  cpu::register_linalg();
  cpu::register_array();
  cpu::register_creation();
  cpu::register_conv();
  cpu::register_loss();
  cpu::register_optimizer();
  cpu::register_image();
  cpu::register_layer_norm();
  cpu::register_batch_norm();
  cpu::register_attention();
}
}  // namespace neurona::kernels
