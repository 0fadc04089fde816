module github.com/provisor/provisor

go 1.26
