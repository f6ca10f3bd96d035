# SPDX-License-Identifier: MIT
#
# Install and export: `cmake --install build --prefix P` puts in place
#   P/bin/veranic                          the schema compiler
#   P/lib/libverani.a                      the runtime
#   P/include/verani/*.h                   its public headers
#   P/share/verani/proto/envelope.proto    the wire envelope, for clients in any language
#                                          (veranic also writes it beside each <pkg>.proto)
#   P/lib/cmake/verani/                    verani-config.cmake (+ version), the exported
#                                          targets verani::verani and verani::veranic, and
#                                          VeraniGenerate.cmake (verani_generate())
# so that another CMake project does
#   find_package(verani REQUIRED)
#   verani_generate(TARGET chat_proto SCHEMA chat.verani)
#   target_link_libraries(app PRIVATE chat_proto)
# Every install() rule of the project is here, except veranic's own rule in
# codegen/CMakeLists.txt (it joins the same export set, verani-targets).
# libverani is static: its private dependencies (libwebsockets, sqlite3,
# hiredis, jansson, threads) are found again by the package config, from the system.
include(CMakePackageConfigHelpers)

set(VERANI_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/verani CACHE STRING
    "Where the CMake package config of verani is installed, relative to the prefix")

install(TARGETS verani EXPORT verani-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/verani
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h")

install(FILES ${PROJECT_SOURCE_DIR}/runtime/src/wire/envelope.proto
    DESTINATION ${CMAKE_INSTALL_DATADIR}/verani/proto)
# The contract, beside the package: the wire protocol and the schema language.
install(FILES ${PROJECT_SOURCE_DIR}/runtime/PROTOCOL.md ${PROJECT_SOURCE_DIR}/README.md
    DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/schema/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
    RENAME SCHEMA.md)

install(EXPORT verani-targets
    NAMESPACE verani::
    FILE verani-targets.cmake
    DESTINATION ${VERANI_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/verani-config.cmake.in
    ${PROJECT_BINARY_DIR}/verani-config.cmake
    INSTALL_DESTINATION ${VERANI_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/verani-config-version.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/verani-config.cmake
    ${PROJECT_BINARY_DIR}/verani-config-version.cmake
    ${PROJECT_SOURCE_DIR}/cmake/VeraniGenerate.cmake
    DESTINATION ${VERANI_INSTALL_CMAKEDIR})

# Packages: `cpack --config build/CPackConfig.cmake -G DEB` (or TGZ) from the
# build directory makes a development package of the same files (veranic,
# libverani.a, headers, CMake config) for /usr. The Debian package depends on
# the -dev packages and protoc-c a user's build needs.
set(CPACK_PACKAGE_NAME verani-dev)
set(CPACK_PACKAGE_VENDOR "Verani-C")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Verani-C maintainers")
set(CPACK_GENERATOR TGZ DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
string(JOIN ", " CPACK_DEBIAN_PACKAGE_DEPENDS "libwebsockets-dev (>= 4.1)"
    "libprotobuf-c-dev (>= 1.4)" protobuf-c-compiler libsqlite3-dev libhiredis-dev
    "libjansson-dev (>= 2.14)" pkg-config)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")
include(CPack)
