// Uses neurona through the installed umbrella header.
#include <neurona/neurona.h>
#include <iostream>

namespace nr = neurona;

int main() {
  const nr::Tensor x = nr::constant({1, 2});
  const nr::Tensor y = nr::constant({3, 4});
  std::cout << (x + y) << "\n";
}
