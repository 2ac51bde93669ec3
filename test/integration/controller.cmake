# The service controller's integration tests (included from CMakeLists.txt).
add_library(lbp_ctl_env STATIC ctl_env.c)
target_link_libraries(lbp_ctl_env PUBLIC lbp_test_harness PkgConfig::JSONC)
foreach(t test_controller test_controller_faults test_controller_restart test_controller_leader
    test_controller_baremetal)
  lbp_add_integration_test(${t} ${t}.c)
  target_link_libraries(${t} PRIVATE lbp_ctl_env)
endforeach()
