module github.com/provisor/provisor/sdk

go 1.26
