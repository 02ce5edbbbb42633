{
  "variables": {
    "prophet_with_gloo%": "<!(node scripts/detect-gloo.mjs)"
  },
  "targets": [
    {
      "target_name": "prophet",
      "sources": [
        "<!@(find native -name '*.cpp' -not -path 'native/comm/optional/*' | sort)"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      # -ffp-contract=off: element-wise math rounds a*b and +c separately, as the CUDA kernels
      # (--fmad=false) do, whatever -std a toolchain picks; the GEMM's FMAs are intrinsics.
      "cflags": ["-O3", "-fopenmp", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fopenmp"],
      "ldflags": ["-fopenmp", "-Wl,-z,nodelete"],
      "libraries": ["-ldl", "-lpthread"],
      "conditions": [
        # The multi-process CPU backend (Gloo), only where scripts/detect-gloo.mjs finds it.
        ["prophet_with_gloo=='true'", {
          "sources": ["<!@(find native/comm/optional -name '*.cpp' | sort)"],
          "defines": ["PROPHET_HAVE_GLOO"],
          "libraries": ["-lgloo"]
        }]
      ]
    }
  ]
}
