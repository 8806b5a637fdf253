// The notebook's gradient tape cells in C++: dy/dx of x^2 at 3, then gradient descent on
// (x - 4)^2 from a random start. Writes the history of x to gradient_descent.csv and, when
// gnuplot is installed, plots it against the target 4 to gradient_descent.png.
//
//   build/examples/gradient_descent [--steps 500] [--lr 0.01] [--out-dir .]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <neurona/neurona.h>

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

// Plots the CSV with gnuplot into `png` (through a temporary file, renamed when complete).
bool plot(const fs::path& csv, const fs::path& png) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return false;
  const fs::path tmp = nr::temporary_path_for(png);
  FILE* gp = popen("gnuplot", "w");
  if (!gp) return false;
  std::fprintf(gp,
               "set terminal png size 800,500\n"
               "set output '%s'\n"
               "set datafile separator ','\n"
               "set key autotitle columnhead\n"
               "set xlabel 'iteration'\nset ylabel 'x'\n"
               "set title 'Gradient descent on (x - 4)^2'\n"
               "set yrange [*:4.5]\nset key bottom right\nset grid\n"
               "plot '%s' using 1:2 with lines lw 2 title 'x', 4 with lines dt 2 title 'target'\n",
               tmp.c_str(), csv.c_str());
  const bool ok = pclose(gp) == 0 && fs::exists(tmp);
  if (ok) fs::rename(tmp, png);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neurona: the gradient tape notebook cells"};
  int steps = 500;
  double lr = 1e-2;
  std::string out_dir = ".";
  app.add_option("--steps", steps, "gradient descent steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--out-dir", out_dir, "where the CSV and PNG go")->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  try {
    // y = x^2 at x = 3: dy/dx = 6.
    nr::Variable x(3.0f);
    nr::GradientTape tape;
    const nr::Tensor y = x * x;
    std::cout << "dy/dx of x^2 at x = 3: " << tape.gradient(y, x) << "\n";

    // Minimise (x - 4)^2 from a random normal start.
    nr::set_seed(1);
    nr::Variable w(nr::random_normal({1}));
    std::ostringstream csv;
    csv << "iteration,x\n";
    for (int i = 0; i < steps; ++i) {
      nr::GradientTape t;
      const nr::Tensor loss = nr::square(w - 4.0);
      const nr::Tensor grad = t.gradient(loss, w);
      w.assign_sub(grad * lr);
      csv << i << "," << w.value().item() << "\n";
    }
    std::cout << "x after " << steps << " steps (target 4): " << w.value().item() << "\n";

    const fs::path csv_path = fs::path(out_dir) / "gradient_descent.csv";
    nr::write_file_atomic(csv_path, csv.str());
    std::cout << "history: " << csv_path.string() << "\n";
    const fs::path png_path = fs::path(out_dir) / "gradient_descent.png";
    if (plot(csv_path, png_path)) {
      std::cout << "plot: " << png_path.string() << "\n";
    } else {
      std::cout << "plot: skipped (install gnuplot, e.g. apt-get install gnuplot-nox)\n";
    }
  } catch (const nr::Error& e) {
    std::cerr << "gradient_descent: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
