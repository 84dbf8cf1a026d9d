# ctest smoke test for ann_bench: runs a tiny synthetic comparison and checks
# that it exits 0 and writes a CSV with the expected header and some rows.
# Usage: cmake -DBIN=<ann_bench> -DOUT=<csv path> -P smoke_test.cmake
set(expected_header
    "system,config,nprobe,rerank,recall_at_1,recall_at_10,qps,train_s,add_s,bytes_per_vector")
file(REMOVE "${OUT}")
execute_process(
  COMMAND "${BIN}" --synthetic 2000,16,10,1 --synthetic_queries 50 --nlist 16
          --m 4 --nprobe 1,4 --hnsw_ef 10,20,40 --niter 4 --min_time_s 0
          --train_threads 1 --csv "${OUT}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ann_bench exited with ${rc}\n${out}\n${err}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "ann_bench did not write ${OUT}\n${out}")
endif()
file(STRINGS "${OUT}" lines)
list(LENGTH lines n)
list(GET lines 0 header)
if(NOT header STREQUAL expected_header)
  message(FATAL_ERROR "bad CSV header '${header}', want '${expected_header}'")
endif()
# 8-bit: quiver x2 + faiss_ivfpq + faiss_ivfpq_refine; 4-bit: quiver +
# faiss_ivfpq_fastscan_refine; two nprobe values each; hnswlib: three ef.
if(n LESS 16)
  message(FATAL_ERROR "CSV has ${n} lines, want 16 (header + 15 rows)\n${out}")
endif()
foreach(system quiver faiss_ivfpq faiss_ivfpq_refine faiss_ivfpq_fastscan_refine
        hnswlib)
  string(FIND "${lines}" "${system}," pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "no ${system} rows in ${OUT}")
  endif()
endforeach()
string(FIND "${out}" "quiver vs hnswlib" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "no quiver/hnswlib summary in the output\n${out}")
endif()
message(STATUS "ann_bench smoke test: ${n} CSV lines")
