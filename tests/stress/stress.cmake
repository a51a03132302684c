# kiln_stress: ops from several application threads at once (tests/stress/).
# Run by the suite (tests/test_stress.c) and, in a -DKILN_TSAN=ON build
# (make tsan), under ThreadSanitizer.
add_executable(kiln_stress ${CMAKE_SOURCE_DIR}/tests/stress/stress_threads.c)
target_include_directories(kiln_stress PRIVATE ${KILN_INCLUDE_DIRS})
target_link_libraries(kiln_stress PRIVATE kiln_static)
if(KILN_TSAN)
  # the generated kernels stay instrumented (two tasks writing one output
  # would be a race) but at -O1: at -O2 they take most of the build's time
  set_property(SOURCE ${KILN_CPU_BUNDLE} APPEND PROPERTY COMPILE_OPTIONS -O1)
endif()
