# Included by llama.cpp's own `project()` when llama-cpp-python is built from source with
#   CMAKE_ARGS="-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama-lean.cmake"
# (the README's first command). simgap runs text-only GGUF models through llama-cpp-python,
# which loads libllama and libggml* only. This leaves out llama.cpp's `common` utility library
# and its HTTP client: llama-cpp-python forces them on, yet ships neither in its package (they
# serve llama.cpp's command-line tools). LLAVA_BUILD=OFF leaves out libmtmd (images and audio),
# which llama-cpp-python loads only for multimodal chat handlers. Measured in
# docs/install.md: about 60% of the source build's CPU time.
set(LLAMA_BUILD_COMMON OFF)
