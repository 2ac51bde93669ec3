# The service controller's integration tests (included from CMakeLists.txt).
add_library(lbp_ctl_env STATIC ctl_env.c)
target_link_libraries(lbp_ctl_env PUBLIC lbp_prov_svc lbp_test_harness PkgConfig::JSONC)
foreach(t test_controller test_controller_faults test_controller_restart test_controller_leader
    test_controller_baremetal test_controller_async test_controller_limits
    test_controller_refusals test_controller_keep_address test_controller_nodes_pending
    test_controller_status_writer)
  lbp_add_integration_test(${t} ${t}.c)
  target_link_libraries(${t} PRIVATE lbp_ctl_env)
endforeach()
# Operations: flags, metrics, health, signals, secrets in logs — one entry per mode.
add_executable(test_controller_ops test_controller_ops.c)
target_link_libraries(test_controller_ops PRIVATE lbp_ctl_env lbp_test_harness ${LBP_LIBS}
  PkgConfig::CURL PkgConfig::JSONC Threads::Threads m)
foreach(mode flags metrics signals secrets)
  add_test(NAME integration/test_controller_ops_${mode} COMMAND test_controller_ops ${mode})
  set_tests_properties(integration/test_controller_ops_${mode} PROPERTIES
    LABELS integration SKIP_RETURN_CODE 77)
endforeach()
