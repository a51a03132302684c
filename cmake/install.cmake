# Install rules: headers, both libraries, kiln.pc and a CMake package config,
# so that another project can find_package(kiln) or pkg-config --libs kiln.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/kiln DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS kiln_static kiln_shared EXPORT kilnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS kiln kiln-gen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)

include(CMakePackageConfigHelpers)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/kilnConfig.cmake.in
  ${CMAKE_BINARY_DIR}/kilnConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/kilnConfig.cmake ${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)

# What a static link needs besides libkiln.a: threads, libm, libdl, plus what
# the backends added (KILN_EXTRA_LIBS). Names only, never this machine's paths:
# an absolute path becomes -l:<file name> (the same archive, found on the
# consumer's library path), a bare name -lname, a flag stays as it is.
set(KILN_PC_LIBS_PRIVATE "-lpthread -lm -ldl")
foreach(l IN LISTS KILN_EXTRA_LIBS)
  if(l MATCHES "^-")
    string(APPEND KILN_PC_LIBS_PRIVATE " ${l}")
  elseif(IS_ABSOLUTE "${l}")
    get_filename_component(file "${l}" NAME)
    string(APPEND KILN_PC_LIBS_PRIVATE " -l:${file}")
  else()
    string(APPEND KILN_PC_LIBS_PRIVATE " -l${l}")
  endif()
endforeach()
# kiln.pc: the shared library, with an rpath so the program runs as built;
# kiln-static.pc: libkiln.a and what it needs (pkg-config --static kiln is
# pkg-config's usual meaning: the private libraries, for a fully -static link).
configure_file(${CMAKE_SOURCE_DIR}/cmake/kiln.pc.in ${CMAKE_BINARY_DIR}/kiln.pc @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/cmake/kiln-static.pc.in ${CMAKE_BINARY_DIR}/kiln-static.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/kiln.pc ${CMAKE_BINARY_DIR}/kiln-static.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
